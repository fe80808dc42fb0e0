"""Value pools for the sample generator: names, diminutives, companies, cities, CRM metadata.

Everything here is plain data plus a small transliteration helper. Pools are ordered by
popularity: the generator draws from them with Zipf-like weights, so the first entries are
common ("Александр", "Иванов", "Smith") and produce natural namesakes.

Only characters that cp1251 can encode occur (Cyrillic, Latin, digits, ``«»``, ASCII
punctuation), because the Bitrix24 export is written in cp1251.
"""

from __future__ import annotations

__all__ = [
    "BITRIX_RESPONSIBLE",
    "BITRIX_SOURCES",
    "CITIES_EN",
    "CITIES_RU",
    "COMPANY_BRANDS_EN",
    "COMPANY_BRANDS_RU",
    "COMPANY_SUFFIXES_EN",
    "COMPANY_SUFFIXES_RU",
    "EMAIL_DOMAINS_EN",
    "EMAIL_DOMAINS_RU",
    "EMAIL_DOMAIN_TYPOS",
    "EN_DIMINUTIVES",
    "FIRST_NAMES_EN_F",
    "FIRST_NAMES_EN_M",
    "FIRST_NAMES_RU_F",
    "FIRST_NAMES_RU_M",
    "HUBSPOT_LIFECYCLE_STAGES",
    "HUBSPOT_OWNERS",
    "LATIN_NAME_VARIANTS",
    "LEGAL_FORMS_EN",
    "LEGAL_FORMS_RU",
    "LEGAL_FORMS_RU_LATIN",
    "PATRONYMICS",
    "RU_DIMINUTIVES",
    "RU_LANDLINE_CODES",
    "RU_MOBILE_PREFIXES",
    "SPAM_EMAIL_DOMAINS",
    "SPAM_NAMES",
    "SPAM_PHONES",
    "SURNAMES_EN",
    "SURNAMES_RU",
    "UK_LANDLINE_PREFIXES",
    "UK_MOBILE_PREFIXES",
    "WEBFORM_FORMS",
    "WEBFORM_UTM_SOURCES",
    "female_surname",
    "transliterate",
    "transliterations",
]

# --------------------------------------------------------------------------------------
# Russian first names, most common first.
# --------------------------------------------------------------------------------------
FIRST_NAMES_RU_M: tuple[str, ...] = (
    "Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Евгений", "Иван",
    "Михаил", "Владимир", "Николай", "Артём", "Павел", "Денис", "Игорь", "Роман",
    "Олег", "Виктор", "Юрий", "Антон", "Константин", "Кирилл", "Илья", "Никита",
    "Вадим", "Владислав", "Вячеслав", "Егор", "Борис", "Георгий", "Григорий", "Тимур",
    "Станислав", "Василий", "Пётр", "Леонид", "Фёдор", "Ярослав", "Анатолий", "Геннадий",
    "Руслан", "Глеб", "Матвей", "Степан", "Валерий",
)  # fmt: skip

FIRST_NAMES_RU_F: tuple[str, ...] = (
    "Елена", "Ольга", "Наталья", "Екатерина", "Анна", "Татьяна", "Мария", "Ирина",
    "Светлана", "Юлия", "Анастасия", "Марина", "Евгения", "Дарья", "Ксения", "Людмила",
    "Надежда", "Галина", "Виктория", "Алина", "Валентина", "Полина", "Вера", "Любовь",
    "Кристина", "Александра", "Елизавета", "Софья", "Алёна", "Оксана", "Маргарита",
    "Лариса", "Яна", "Диана", "Вероника", "Нина", "Жанна", "Зоя", "Алла", "Тамара",
)  # fmt: skip

#: Cyrillic diminutives / short forms; a name absent here has none.
RU_DIMINUTIVES: dict[str, tuple[str, ...]] = {
    "Александр": ("Саша", "Шура", "Саня"),
    "Александра": ("Саша", "Шура"),
    "Алексей": ("Лёша", "Алёша"),
    "Дмитрий": ("Дима",),
    "Евгений": ("Женя",),
    "Евгения": ("Женя",),
    "Екатерина": ("Катя",),
    "Елена": ("Лена",),
    "Мария": ("Маша",),
    "Михаил": ("Миша",),
    "Наталья": ("Наташа",),
    "Николай": ("Коля",),
    "Ольга": ("Оля",),
    "Павел": ("Паша",),
    "Сергей": ("Серёжа", "Серега"),
    "Татьяна": ("Таня",),
    "Владимир": ("Вова", "Володя"),
    "Анастасия": ("Настя",),
    "Анна": ("Аня",),
    "Иван": ("Ваня",),
    "Юлия": ("Юля",),
    "Ирина": ("Ира",),
    "Светлана": ("Света",),
    "Андрей": ("Андрюша",),
    "Виктор": ("Витя",),
    "Константин": ("Костя",),
    "Максим": ("Макс",),
    "Вячеслав": ("Слава",),
    "Ярослав": ("Слава",),
    "Станислав": ("Стас",),
    "Владислав": ("Влад",),
    "Дарья": ("Даша",),
    "Ксения": ("Ксюша",),
    "Людмила": ("Люда",),
    "Галина": ("Галя",),
    "Валентина": ("Валя",),
    "Надежда": ("Надя",),
    "Виктория": ("Вика",),
    "Кирилл": ("Кирюша",),
    "Артём": ("Тёма",),
    "Георгий": ("Жора", "Гоша"),
    "Григорий": ("Гриша",),
    "Елизавета": ("Лиза",),
    "Софья": ("Соня",),
    "Маргарита": ("Рита",),
    "Кристина": ("Кристи",),
    "Василий": ("Вася",),
    "Пётр": ("Петя",),
    "Леонид": ("Лёня",),
    "Фёдор": ("Федя",),
    "Анатолий": ("Толя",),
    "Геннадий": ("Гена",),
    "Валерий": ("Валера",),
    "Степан": ("Стёпа",),
    "Любовь": ("Люба",),
    "Тамара": ("Тома",),
    "Роман": ("Рома",),
    "Юрий": ("Юра",),
    "Борис": ("Боря",),
    "Егор": ("Егорка",),
}

#: Latin spellings used in addition to the scheme transliterations (English equivalents
#: people pick for themselves in international CRMs).
LATIN_NAME_VARIANTS: dict[str, tuple[str, ...]] = {
    "Александр": ("Alexander", "Alex"),
    "Алексей": ("Alexey", "Alex"),
    "Юлия": ("Julia", "Yulia", "Iuliia"),
    "Мария": ("Maria", "Mariya"),
    "Михаил": ("Michael", "Mikhail"),
    "Евгений": ("Evgeny", "Yevgeny", "Eugene"),
    "Евгения": ("Evgenia", "Eugenia"),
    "Екатерина": ("Ekaterina", "Katerina", "Yekaterina"),
    "Елена": ("Elena", "Yelena", "Helen"),
    "Наталья": ("Natalia", "Natalya", "Natalie"),
    "Татьяна": ("Tatiana", "Tatyana"),
    "Дмитрий": ("Dmitry", "Dmitriy", "Dmitrii"),
    "Анастасия": ("Anastasia", "Anastasiya"),
    "Пётр": ("Petr", "Pyotr", "Peter"),
    "Фёдор": ("Fedor", "Fyodor"),
    "Артём": ("Artem", "Artyom"),
    "Ксения": ("Ksenia", "Kseniya", "Xenia"),
    "Георгий": ("Georgy", "George"),
    "Софья": ("Sofia", "Sofya", "Sophia"),
    "Кристина": ("Kristina", "Christina"),
    "Виктория": ("Viktoria", "Victoria"),
    "Виктор": ("Viktor", "Victor"),
}

#: Patronymics as (male form, female form), derived from common fathers' names.
PATRONYMICS: tuple[tuple[str, str], ...] = (
    ("Александрович", "Александровна"), ("Сергеевич", "Сергеевна"),
    ("Владимирович", "Владимировна"), ("Андреевич", "Андреевна"),
    ("Алексеевич", "Алексеевна"), ("Дмитриевич", "Дмитриевна"),
    ("Николаевич", "Николаевна"), ("Михайлович", "Михайловна"),
    ("Иванович", "Ивановна"), ("Викторович", "Викторовна"),
    ("Юрьевич", "Юрьевна"), ("Евгеньевич", "Евгеньевна"),
    ("Игоревич", "Игоревна"), ("Олегович", "Олеговна"),
    ("Анатольевич", "Анатольевна"), ("Васильевич", "Васильевна"),
    ("Павлович", "Павловна"), ("Петрович", "Петровна"),
    ("Борисович", "Борисовна"), ("Валерьевич", "Валерьевна"),
    ("Геннадьевич", "Геннадьевна"), ("Константинович", "Константиновна"),
    ("Леонидович", "Леонидовна"), ("Григорьевич", "Григорьевна"),
    ("Фёдорович", "Фёдоровна"), ("Романович", "Романовна"),
    ("Вадимович", "Вадимовна"), ("Станиславович", "Станиславовна"),
    ("Вячеславович", "Вячеславовна"), ("Ильич", "Ильинична"),
    ("Максимович", "Максимовна"), ("Денисович", "Денисовна"),
)  # fmt: skip

#: Russian surnames in their male form, most common first.
SURNAMES_RU: tuple[str, ...] = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов",
    "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв",
    "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв",
    "Белов", "Медведев", "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров",
    "Давыдов", "Беляев", "Герасимов", "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов",
    "Марков", "Миронов", "Крылов", "Куликов", "Карпов", "Власов", "Мельников", "Денисов",
    "Гаврилов", "Тихонов", "Казаков", "Афанасьев", "Данилов", "Савельев", "Тимофеев",
    "Фомин", "Чернов", "Абрамов", "Мартынов", "Ефимов", "Федотов", "Щербаков", "Назаров",
    "Калинин", "Исаев", "Чернышёв", "Быков", "Маслов", "Родионов", "Коновалов", "Лазарев",
    "Воронин", "Климов", "Филатов", "Пономарёв", "Голубев", "Кудрявцев", "Прохоров",
    "Наумов", "Потапов", "Журавлёв", "Овчинников", "Трофимов", "Леонов", "Соболев",
    "Ермаков", "Колесников", "Гончаров", "Емельянов", "Никифоров", "Грачёв", "Котов",
    "Гришин", "Ефремов", "Архипов", "Громов", "Кириллов", "Малышев", "Панов", "Моисеев",
    "Румянцев", "Акимов", "Кондратьев", "Бирюков", "Горбунов", "Анисимов", "Ерёмин",
    "Тихомиров", "Галкин", "Лукьянов", "Михеев", "Скворцов", "Юдин", "Белоусов",
    "Нестеров", "Симонов", "Прокофьев", "Харитонов", "Князев", "Цветков", "Левин",
    "Митрофанов", "Воронов", "Аксёнов", "Софронов", "Мальцев", "Логинов", "Горшков",
    "Савин", "Краснов", "Майоров", "Демидов", "Елисеев", "Рыбаков", "Сафонов", "Плотников",
    "Жданов", "Баженов", "Зуев", "Шубин", "Блинов", "Ершов", "Хохлов", "Щукин",
    "Островский", "Высоцкий", "Вишневский", "Покровский", "Жуковский", "Толстой",
    "Шевченко", "Бондаренко", "Коваленко", "Ткаченко", "Кравченко", "Мирошниченко",
    "Гуревич", "Кравец", "Черных", "Седых", "Белых", "Долгих",
)  # fmt: skip

# --------------------------------------------------------------------------------------
# English first names and surnames.
# --------------------------------------------------------------------------------------
FIRST_NAMES_EN_M: tuple[str, ...] = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Andrew", "Steven", "Edward",
    "Nicholas", "Jonathan", "Benjamin", "Timothy", "Alexander", "Samuel", "Patrick", "Peter",
    "George", "Oliver", "Henry", "Jack", "Harry", "Brian", "Kevin", "Jason", "Ryan", "Eric",
)  # fmt: skip

FIRST_NAMES_EN_F: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Nancy", "Margaret", "Katherine", "Emily", "Rebecca", "Samantha",
    "Victoria", "Deborah", "Amanda", "Stephanie", "Olivia", "Emma", "Sophie", "Charlotte",
    "Rachel", "Laura", "Hannah", "Amy", "Lucy", "Alice", "Grace",
)  # fmt: skip

EN_DIMINUTIVES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Michael": ("Mike", "Mikey"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Johnny", "Jack"),
    "Richard": ("Rick", "Rich", "Dick"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Jennifer": ("Jen", "Jenny"),
    "Anthony": ("Tony",),
    "Joseph": ("Joe", "Joey"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Alexander": ("Alex", "Sandy"),
    "Patricia": ("Pat", "Trish", "Patty"),
    "Susan": ("Sue", "Susie"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam",),
    "Samuel": ("Sam",),
    "Nicholas": ("Nick",),
    "Matthew": ("Matt",),
    "Steven": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "Benjamin": ("Ben", "Benny"),
    "Jonathan": ("Jon",),
    "Timothy": ("Tim",),
    "Deborah": ("Debbie", "Deb"),
    "Victoria": ("Vicky", "Tori"),
    "Charles": ("Charlie", "Chuck"),
    "Patrick": ("Pat",),
    "Peter": ("Pete",),
    "Henry": ("Harry", "Hank"),
    "Barbara": ("Barb",),
    "Stephanie": ("Steph",),
    "Amanda": ("Mandy",),
    "Charlotte": ("Charlie",),
    "Emily": ("Em",),
    "David": ("Dave",),
}

SURNAMES_EN: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Anderson", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner",
    "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris",
    "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell",
    "Kelly", "Howard", "Ward", "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett",
    "Gray", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross", "Foster", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Fisher", "Henderson", "Coleman", "Patterson",
    "Jordan", "Reynolds", "Hamilton", "Graham", "Wallace", "West", "Cole", "Hayes",
    "Gibson", "Ellis", "Stevens", "Murray", "Ford", "Marshall", "Owens", "McDonald",
    "Harrison", "Kennedy", "Wells", "Palmer", "Holmes", "Lloyd", "O'Brien", "O'Connor",
    "Fletcher", "Walsh", "Chapman", "Hunt", "Mason", "Lawrence", "Knight", "Butler",
)  # fmt: skip

# --------------------------------------------------------------------------------------
# Companies.
# --------------------------------------------------------------------------------------
#: (short form, full form) of Russian legal forms; "ИП" is a sole trader named by surname.
LEGAL_FORMS_RU: tuple[tuple[str, str], ...] = (
    ("ООО", "Общество с ограниченной ответственностью"),
    ("ООО", "Общество с ограниченной ответственностью"),
    ("ООО", "Общество с ограниченной ответственностью"),
    ("АО", "Акционерное общество"),
    ("ПАО", "Публичное акционерное общество"),
    ("ЗАО", "Закрытое акционерное общество"),
    ("ИП", "Индивидуальный предприниматель"),
)

#: Latin spellings of the Russian legal forms, as they appear in HubSpot.
LEGAL_FORMS_RU_LATIN: dict[str, tuple[str, str]] = {
    "ООО": ("OOO", "LLC"),
    "АО": ("AO", "JSC"),
    "ПАО": ("PAO", "PJSC"),
    "ЗАО": ("ZAO", "CJSC"),
    "ИП": ("IP", "IE"),
}

LEGAL_FORMS_EN: tuple[str, ...] = ("LLC", "Ltd", "Inc.", "Corp.", "Group", "Ltd.", "Inc", "PLC")

COMPANY_BRANDS_RU: tuple[str, ...] = (
    "Ромашка", "Вектор", "Альфа", "Бета", "Гранит", "Мега", "Техно", "Гео", "Транс", "Пром",
    "Эко", "Агро", "Энерго", "Медиа", "Нева", "Урал", "Сибирь", "Волга", "Север", "Восток",
    "Кредо", "Стандарт", "Оптима", "Профи", "Лидер", "Старт", "Союз", "Арсенал", "Атлант",
    "Орион", "Спектр", "Меридиан", "Альянс", "Восход", "Фаворит", "Феникс", "Импульс",
    "Гарант", "Капитал", "Сфера", "Ресурс", "Прогресс", "Монолит", "Зенит", "Поток",
    "Азимут", "Горизонт", "Интеграл", "Квант", "Магистраль",
)  # fmt: skip

#: Second halves of compound Russian brand names; "" keeps the first half alone.
COMPANY_SUFFIXES_RU: tuple[str, ...] = (
    "", "", "", "строй", "пром", "сервис", "торг", "снаб", "лайн", "софт", "тех", "маш",
    "транс", "инвест", "комплекс", "систем", "групп", "логистик", "консалт", "трейд",
)  # fmt: skip

COMPANY_BRANDS_EN: tuple[str, ...] = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Apex", "Summit", "Pioneer",
    "Blue Harbor", "Northwind", "Contoso", "Fabrikam", "Vertex", "Bright", "Silver Oak",
    "Cedar", "Redwood", "Ironbridge", "Lighthouse", "Greenfield", "Evergreen", "Keystone",
    "Brightwater", "Falcon", "Harbor Point", "Riverstone", "Sterling", "Oakwood", "Crescent",
)  # fmt: skip

COMPANY_SUFFIXES_EN: tuple[str, ...] = (
    "", "", "", " Systems", " Solutions", " Consulting", " Labs", " Holdings", " Partners",
    " Logistics", " Media", " Capital", " Software", " Trading", " Industries",
)  # fmt: skip

# --------------------------------------------------------------------------------------
# Cities: (canonical, Cyrillic spellings, Latin spellings, landline area codes, weight).
# Repeated spellings weight the choice among them.
# --------------------------------------------------------------------------------------
CITIES_RU: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], float], ...] = (
    ("Москва", ("Москва", "Москва", "Москва", "г. Москва", "москва", "Москва "),
     ("Moscow", "Moscow", "Moskva"), ("495", "499"), 0.38),
    ("Санкт-Петербург", ("Санкт-Петербург", "Санкт-Петербург", "СПб", "г. Санкт-Петербург",
                         "Санкт Петербург", "Питер"),
     ("Saint Petersburg", "St. Petersburg", "Sankt-Peterburg"), ("812",), 0.2),
    ("Екатеринбург", ("Екатеринбург", "Екатеринбург", "г. Екатеринбург", "Екб"),
     ("Yekaterinburg", "Ekaterinburg"), ("343",), 0.1),
    ("Новосибирск", ("Новосибирск", "Новосибирск", "г. Новосибирск"),
     ("Novosibirsk",), ("383",), 0.09),
    ("Казань", ("Казань", "Казань", "г. Казань", "казань"), ("Kazan",), ("843",), 0.08),
    ("Нижний Новгород", ("Нижний Новгород", "Н. Новгород", "г. Нижний Новгород"),
     ("Nizhny Novgorod",), ("831",), 0.06),
    ("Самара", ("Самара", "г. Самара"), ("Samara",), ("846",), 0.05),
    ("Краснодар", ("Краснодар", "г. Краснодар"), ("Krasnodar",), ("861",), 0.04),
)  # fmt: skip

#: (canonical, spellings, country "US"/"GB", landline area codes, weight)
CITIES_EN: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...], float], ...] = (
    ("London", ("London", "London", "London, UK", "london"), "GB", ("20",), 0.3),
    ("New York", ("New York", "New York", "NYC", "New York City", "NY"), "US",
     ("212", "646", "718"), 0.25),
    ("Boston", ("Boston", "Boston", "Boston, MA"), "US", ("617", "857"), 0.12),
    ("San Francisco", ("San Francisco", "SF", "San Francisco, CA"), "US", ("415", "628"), 0.12),
    ("Chicago", ("Chicago", "Chicago, IL"), "US", ("312", "773"), 0.09),
    ("Manchester", ("Manchester", "manchester"), "GB", ("161",), 0.07),
    ("Austin", ("Austin", "Austin, TX"), "US", ("512",), 0.05),
)  # fmt: skip

# --------------------------------------------------------------------------------------
# Telephone number blocks (national significant numbers, without the country code).
# --------------------------------------------------------------------------------------
#: Russian mobile operator prefixes (ten-digit numbers ``9XX NNN NN NN``).
RU_MOBILE_PREFIXES: tuple[str, ...] = (
    "912", "916", "926", "903", "905", "906", "909", "915", "917", "919", "921", "925",
    "929", "950", "951", "953", "960", "961", "962", "963", "964", "965", "977", "980",
    "981", "985", "987", "999",
)  # fmt: skip

#: Russian landline area codes by canonical city (ten-digit numbers).
RU_LANDLINE_CODES: dict[str, tuple[str, ...]] = {
    city: codes for city, _cyr, _lat, codes, _weight in CITIES_RU
}

#: UK mobile number blocks (``7XXX NNNNNN``, ten digits).
UK_MOBILE_PREFIXES: tuple[str, ...] = (
    "7400", "7450", "7500", "7550", "7700", "7750", "7800", "7850", "7900", "7950",
)  # fmt: skip

#: UK landline blocks by area code: the first subscriber digits allowed there.
UK_LANDLINE_PREFIXES: dict[str, tuple[str, ...]] = {
    "20": ("203", "207", "208"),
    "161": ("1612", "1614", "1616", "1618"),
}

# --------------------------------------------------------------------------------------
# E-mail domains.
# --------------------------------------------------------------------------------------
EMAIL_DOMAINS_RU: tuple[str, ...] = (
    "mail.ru", "mail.ru", "mail.ru", "yandex.ru", "yandex.ru", "yandex.ru", "gmail.com",
    "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "ya.ru",
)  # fmt: skip

EMAIL_DOMAINS_EN: tuple[str, ...] = (
    "gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com",
    "icloud.com", "hotmail.co.uk", "aol.com",
)  # fmt: skip

#: Misspelt domains people type into web forms and CRM cards.
EMAIL_DOMAIN_TYPOS: dict[str, tuple[str, ...]] = {
    "gmail.com": ("gmial.com", "gmail.con", "gmai.com", "gmail.co"),
    "mail.ru": ("mail.tu", "mial.ru", "mail.r", "maail.ru"),
    "yandex.ru": ("yandex.tu", "yadex.ru", "yandeks.ru", "yandex.ry"),
    "bk.ru": ("bk.ry", "bk.tu"),
    "inbox.ru": ("inbx.ru", "inbox.tu"),
    "list.ru": ("lsit.ru", "list.tu"),
    "rambler.ru": ("rambller.ru", "ramber.ru"),
    "ya.ru": ("ya.tu", "ya.r"),
    "yahoo.com": ("yaho.com", "yahoo.con"),
    "outlook.com": ("outlok.com", "outlook.co"),
    "hotmail.com": ("hotmial.com", "hotmail.con"),
    "icloud.com": ("iclod.com", "icloud.con"),
    "hotmail.co.uk": ("hotmail.co.k", "hotmial.co.uk"),
    "aol.com": ("aol.con", "aoll.com"),
}

# --------------------------------------------------------------------------------------
# CRM metadata columns.
# --------------------------------------------------------------------------------------
BITRIX_SOURCES: tuple[str, ...] = (
    "Веб-сайт", "Веб-сайт", "Звонок", "Звонок", "Электронная почта", "Рекомендация",
    "Выставка", "CRM-форма", "Другое", "Существующий клиент",
)  # fmt: skip

BITRIX_RESPONSIBLE: tuple[str, ...] = (
    "Анна Смирнова", "Игорь Ковалёв", "Мария Лебедева", "Олег Зимин", "Татьяна Рябова",
    "Денис Ларин", "Екатерина Орлова", "Павел Гуров",
)  # fmt: skip

HUBSPOT_LIFECYCLE_STAGES: tuple[str, ...] = (
    "subscriber", "lead", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead",
    "opportunity", "customer", "customer", "evangelist", "other",
)  # fmt: skip

HUBSPOT_OWNERS: tuple[str, ...] = (
    "Anna Smirnova", "Igor Kovalev", "Emily Carter", "John Walsh", "Maria Lebedeva",
    "Sarah Collins",
)  # fmt: skip

WEBFORM_UTM_SOURCES: tuple[str, ...] = (
    "google", "yandex", "yandex", "vk", "telegram", "facebook", "direct", "email", "partner",
)  # fmt: skip

#: What form-filling bots and bored visitors type: names, phones and e-mail local parts.
SPAM_NAMES: tuple[str, ...] = (
    "asdf", "test", "Тест", "qwerty", "йцукен", "фыва", "aaaa", "xxx", "test test", "ываыва",
    "", "sdfgh", "ТЕСТ ТЕСТ", "zzz",
)  # fmt: skip
SPAM_PHONES: tuple[str, ...] = (
    "123", "0000000", "+7 (000) 000-00-00", "111", "", "9", "12345", "+1 000 000 0000",
)  # fmt: skip
SPAM_EMAIL_DOMAINS: tuple[str, ...] = (
    "mailinator.com", "yopmail.com", "guerrillamail.com", "10minutemail.com", "trashmail.com",
)  # fmt: skip

WEBFORM_FORMS: tuple[str, ...] = (
    "contact_us", "callback", "price_request", "webinar_signup", "demo_request", "subscribe",
)  # fmt: skip


# --------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------
def female_surname(male: str) -> str:
    """Return the female form of a Russian surname given in its male form.

    Parameters
    ----------
    male
        Male form, e.g. ``"Петров"``, ``"Островский"``, ``"Толстой"``.

    Returns
    -------
    str
        ``"Петрова"``, ``"Островская"``, ``"Толстая"``; indeclinable surnames
        (``"Шевченко"``, ``"Черных"``, ``"Гуревич"``) are returned unchanged.
    """
    if male.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return male + "а"
    if male.endswith(("ский", "цкий")):
        return male[:-2] + "ая"
    if male.endswith("ой"):
        return male[:-2] + "ая"
    return male


_COMMON = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e",
}  # fmt: skip

#: Transliteration schemes, each a mapping of lower-case Cyrillic letters.
_SCHEMES: dict[str, dict[str, str]] = {
    # Russian international passports since 2013 (ICAO Doc 9303): Юлия -> Iuliia.
    "icao": {**_COMMON, "ё": "e", "й": "i", "ъ": "ie", "ю": "iu", "я": "ia"},
    # BGN/PCGN-like, the usual "Yulia, Aleksey" spelling.
    "bgn": {**_COMMON, "ё": "yo", "й": "y", "ю": "yu", "я": "ya", "ь": ""},
    # Informal: "Alexey", "Julia", "Dmitry".
    "informal": {**_COMMON, "ё": "e", "й": "y", "ю": "yu", "я": "ya", "х": "h", "щ": "sch"},
}

#: Rewrites applied by the informal scheme after transliteration: "ks" anywhere,
#: then word endings ("Aleksandr" -> "Alexandr", "Dmitriy" -> "Dmitry", "Yuliya" -> "Yulia").
_INFORMAL_ANYWHERE = (("ks", "x"), ("Ks", "X"))
_INFORMAL_ENDINGS = (("iy", "y"), ("iya", "ia"))


def transliterate(text: str, scheme: str = "icao") -> str:
    """Transliterate Cyrillic text to Latin with one of the built-in schemes.

    Parameters
    ----------
    text
        Text in Cyrillic; Latin characters, digits and punctuation pass through.
    scheme
        ``"icao"`` (passport), ``"bgn"`` or ``"informal"``.

    Returns
    -------
    str
        The Latin text; the case of each word's first letter is kept.
    """
    table = _SCHEMES[scheme]
    out: list[str] = []
    for char in text:
        lower = char.lower()
        latin = table.get(lower)
        if latin is None:
            out.append(char)
        elif char != lower and latin:
            out.append(latin[0].upper() + latin[1:])
        else:
            out.append(latin)
    result = "".join(out)
    if scheme == "informal":
        for old, new in _INFORMAL_ANYWHERE:
            result = result.replace(old, new)
        for old, new in _INFORMAL_ENDINGS:
            if result.endswith(old):
                result = result[: -len(old)] + new
    return result


def transliterations(text: str) -> tuple[str, ...]:
    """Return the distinct Latin spellings of Cyrillic text across all schemes, stable order."""
    spellings = [transliterate(text, scheme) for scheme in _SCHEMES]
    return tuple(dict.fromkeys(spellings))
