"""Region and time zone of Russian numbers from the national numbering plan.

libphonenumber knows the city of a Russian landline but not the region of a mobile
number: a DEF code (9xx) is shared by many regions, each holding ranges of it. The
regulator publishes the ranges ("Выписка из реестра Российской системы и плана
нумерации": ``ABC-3xx.csv``, ``ABC-4xx.csv``, ``ABC-8xx.csv``, ``DEF-9xx.csv``; UTF-8,
``;``-separated, header ``АВС/ DEF;От;До;Емкость;Оператор;Регион;Территория ГАР;ИНН``,
older extracts without the last two columns). `read_numbering_plan` turns those files
into one table of ranges with the region and its time zone (from `RUSSIAN_REGIONS`);
`plan_descriptions` looks numbers up in it.

``dedup numbering-plan load`` writes the table where ``enrich.numbering_plan`` says;
phone enrichment then uses it for the numbers whose region libphonenumber does not know,
and falls back to libphonenumber alone when no plan is loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import polars as pl

__all__ = [
    "NUMBERING_PLAN_SCHEMA",
    "RUSSIAN_REGIONS",
    "NumberingPlanError",
    "load_numbering_plan",
    "plan_descriptions",
    "read_numbering_plan",
    "region_of_territory",
    "write_numbering_plan",
]


#: One row per number range.
NUMBERING_PLAN_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.Int32(),  # ABC or DEF code: the three digits after +7
    "range_start": pl.Int64(),  # the seven digits after the code
    "range_end": pl.Int64(),
    "operator": pl.String(),
    "territory": pl.String(),  # as the file writes it
    "region_ru": pl.String(),  # the federal subject, when the territory names one
    "region_en": pl.String(),
    "time_zone": pl.String(),
    "plan_version": pl.String(),  # digest of the files the table was read from
}

#: Federal subjects: (word stem in the regulator's territory names, Russian name,
#: English name, IANA time zone). Checked in order, so a stem inside another region's
#: name comes after it ("томск" before "омск", "ямало" before "ненец").
RUSSIAN_REGIONS: tuple[tuple[str, str, str, str], ...] = (
    ("санкт-петербург", "Санкт-Петербург", "Saint Petersburg", "Europe/Moscow"),
    ("севастопол", "Севастополь", "Sevastopol", "Europe/Simferopol"),
    ("нижегород", "Нижегородская область", "Nizhny Novgorod Oblast", "Europe/Moscow"),
    ("нижний новгород", "Нижегородская область", "Nizhny Novgorod Oblast", "Europe/Moscow"),
    ("московск", "Московская область", "Moscow Oblast", "Europe/Moscow"),
    ("москва", "Москва", "Moscow", "Europe/Moscow"),
    ("адыге", "Республика Адыгея", "Adygea", "Europe/Moscow"),
    ("башкор", "Республика Башкортостан", "Bashkortostan", "Asia/Yekaterinburg"),
    ("бурят", "Республика Бурятия", "Buryatia", "Asia/Irkutsk"),
    ("республика алтай", "Республика Алтай", "Altai Republic", "Asia/Barnaul"),
    ("алтайск", "Алтайский край", "Altai Krai", "Asia/Barnaul"),
    ("дагестан", "Республика Дагестан", "Dagestan", "Europe/Moscow"),
    ("ингуш", "Республика Ингушетия", "Ingushetia", "Europe/Moscow"),
    ("кабардин", "Кабардино-Балкарская Республика", "Kabardino-Balkaria", "Europe/Moscow"),
    ("калмык", "Республика Калмыкия", "Kalmykia", "Europe/Moscow"),
    ("карачаев", "Карачаево-Черкесская Республика", "Karachay-Cherkessia", "Europe/Moscow"),
    ("карели", "Республика Карелия", "Karelia", "Europe/Moscow"),
    ("коми", "Республика Коми", "Komi Republic", "Europe/Moscow"),
    ("марий", "Республика Марий Эл", "Mari El", "Europe/Moscow"),
    ("мордов", "Республика Мордовия", "Mordovia", "Europe/Moscow"),
    ("якут", "Республика Саха (Якутия)", "Sakha (Yakutia)", "Asia/Yakutsk"),
    ("осети", "Республика Северная Осетия — Алания", "North Ossetia–Alania", "Europe/Moscow"),
    ("татарстан", "Республика Татарстан", "Tatarstan", "Europe/Moscow"),
    ("тыва", "Республика Тыва", "Tuva", "Asia/Krasnoyarsk"),
    ("тува", "Республика Тыва", "Tuva", "Asia/Krasnoyarsk"),
    ("удмурт", "Удмуртская Республика", "Udmurtia", "Europe/Samara"),
    ("хакас", "Республика Хакасия", "Khakassia", "Asia/Krasnoyarsk"),
    ("чечен", "Чеченская Республика", "Chechnya", "Europe/Moscow"),
    ("чуваш", "Чувашская Республика", "Chuvashia", "Europe/Moscow"),
    ("забайкал", "Забайкальский край", "Zabaykalsky Krai", "Asia/Chita"),
    ("камчат", "Камчатский край", "Kamchatka Krai", "Asia/Kamchatka"),
    ("краснодар", "Краснодарский край", "Krasnodar Krai", "Europe/Moscow"),
    ("красноярск", "Красноярский край", "Krasnoyarsk Krai", "Asia/Krasnoyarsk"),
    ("пермск", "Пермский край", "Perm Krai", "Asia/Yekaterinburg"),
    ("приморск", "Приморский край", "Primorsky Krai", "Asia/Vladivostok"),
    ("ставрополь", "Ставропольский край", "Stavropol Krai", "Europe/Moscow"),
    ("хабаровск", "Хабаровский край", "Khabarovsk Krai", "Asia/Vladivostok"),
    ("амурск", "Амурская область", "Amur Oblast", "Asia/Yakutsk"),
    ("архангельск", "Архангельская область", "Arkhangelsk Oblast", "Europe/Moscow"),
    ("астрахан", "Астраханская область", "Astrakhan Oblast", "Europe/Astrakhan"),
    ("белгород", "Белгородская область", "Belgorod Oblast", "Europe/Moscow"),
    ("брянск", "Брянская область", "Bryansk Oblast", "Europe/Moscow"),
    ("владимирск", "Владимирская область", "Vladimir Oblast", "Europe/Moscow"),
    ("волгоград", "Волгоградская область", "Volgograd Oblast", "Europe/Volgograd"),
    ("вологод", "Вологодская область", "Vologda Oblast", "Europe/Moscow"),
    ("воронеж", "Воронежская область", "Voronezh Oblast", "Europe/Moscow"),
    ("ивановск", "Ивановская область", "Ivanovo Oblast", "Europe/Moscow"),
    ("иркутск", "Иркутская область", "Irkutsk Oblast", "Asia/Irkutsk"),
    ("калининград", "Калининградская область", "Kaliningrad Oblast", "Europe/Kaliningrad"),
    ("калужск", "Калужская область", "Kaluga Oblast", "Europe/Moscow"),
    ("кемеров", "Кемеровская область — Кузбасс", "Kemerovo Oblast", "Asia/Novokuznetsk"),
    ("кузбасс", "Кемеровская область — Кузбасс", "Kemerovo Oblast", "Asia/Novokuznetsk"),
    ("кировск", "Кировская область", "Kirov Oblast", "Europe/Kirov"),
    ("костром", "Костромская область", "Kostroma Oblast", "Europe/Moscow"),
    ("курганск", "Курганская область", "Kurgan Oblast", "Asia/Yekaterinburg"),
    ("курск", "Курская область", "Kursk Oblast", "Europe/Moscow"),
    ("ленинград", "Ленинградская область", "Leningrad Oblast", "Europe/Moscow"),
    ("липецк", "Липецкая область", "Lipetsk Oblast", "Europe/Moscow"),
    ("магадан", "Магаданская область", "Magadan Oblast", "Asia/Magadan"),
    ("мурманск", "Мурманская область", "Murmansk Oblast", "Europe/Moscow"),
    ("новгородск", "Новгородская область", "Novgorod Oblast", "Europe/Moscow"),
    ("новосибирск", "Новосибирская область", "Novosibirsk Oblast", "Asia/Novosibirsk"),
    ("томск", "Томская область", "Tomsk Oblast", "Asia/Tomsk"),
    ("омск", "Омская область", "Omsk Oblast", "Asia/Omsk"),
    ("оренбург", "Оренбургская область", "Orenburg Oblast", "Asia/Yekaterinburg"),
    ("орловск", "Орловская область", "Oryol Oblast", "Europe/Moscow"),
    ("пензен", "Пензенская область", "Penza Oblast", "Europe/Moscow"),
    ("псков", "Псковская область", "Pskov Oblast", "Europe/Moscow"),
    ("ростов", "Ростовская область", "Rostov Oblast", "Europe/Moscow"),
    ("рязан", "Рязанская область", "Ryazan Oblast", "Europe/Moscow"),
    ("самар", "Самарская область", "Samara Oblast", "Europe/Samara"),
    ("саратов", "Саратовская область", "Saratov Oblast", "Europe/Saratov"),
    ("сахалин", "Сахалинская область", "Sakhalin Oblast", "Asia/Sakhalin"),
    ("свердлов", "Свердловская область", "Sverdlovsk Oblast", "Asia/Yekaterinburg"),
    ("смоленск", "Смоленская область", "Smolensk Oblast", "Europe/Moscow"),
    ("тамбов", "Тамбовская область", "Tambov Oblast", "Europe/Moscow"),
    ("тверск", "Тверская область", "Tver Oblast", "Europe/Moscow"),
    ("тульск", "Тульская область", "Tula Oblast", "Europe/Moscow"),
    ("тюмен", "Тюменская область", "Tyumen Oblast", "Asia/Yekaterinburg"),
    ("ульянов", "Ульяновская область", "Ulyanovsk Oblast", "Europe/Ulyanovsk"),
    ("челябинск", "Челябинская область", "Chelyabinsk Oblast", "Asia/Yekaterinburg"),
    ("ярослав", "Ярославская область", "Yaroslavl Oblast", "Europe/Moscow"),
    ("еврейск", "Еврейская автономная область", "Jewish Autonomous Oblast", "Asia/Vladivostok"),
    ("ямало", "Ямало-Ненецкий автономный округ", "Yamalo-Nenets Okrug", "Asia/Yekaterinburg"),
    ("ненец", "Ненецкий автономный округ", "Nenets Okrug", "Europe/Moscow"),
    ("ханты", "Ханты-Мансийский автономный округ — Югра", "Khanty-Mansi Okrug",
     "Asia/Yekaterinburg"),
    ("чукот", "Чукотский автономный округ", "Chukotka", "Asia/Anadyr"),
    ("крым", "Республика Крым", "Crimea", "Europe/Simferopol"),
)  # fmt: skip

_HEADER_MARKERS = ("DEF", "От", "До", "Оператор", "Регион")


class NumberingPlanError(ValueError):
    """A numbering plan file that cannot be read: the file, row and field are named."""


def region_of_territory(territory: str | None) -> tuple[str, str, str] | None:
    """(Russian name, English name, time zone) of the federal subject a territory of the
    plan names ("г. Улан-Удэ|Республика Бурятия", "Ростовская обл."), or None."""
    if not territory:
        return None
    text = territory.lower().replace("ё", "е")
    # The subject is the last part of "town|region"; the whole text is the fallback.
    for part in (text.split("|")[-1], text):
        for stem, name_ru, name_en, zone in RUSSIAN_REGIONS:
            if stem in part:
                return name_ru, name_en, zone
    return None


def _read_file(path: Path, raw: bytes) -> pl.DataFrame:
    """The ranges of one file (its bytes ``raw``): lines split and checked as columns,
    a problem reported with its row number as the file counts it."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older extracts were published in Windows-1251.
        text = raw.decode("cp1251")
    lines = text.splitlines()
    header = lines[0] if lines else ""
    if not all(marker in header for marker in _HEADER_MARKERS):
        raise NumberingPlanError(
            f"{path}: row 1: expected the header 'АВС/ DEF;От;До;Емкость;Оператор;Регион"
            f"[;Территория ГАР;ИНН]', found {header[:80]!r}"
        )
    columns = [name.strip() for name in header.split(";")]
    territory_at = columns.index("Территория ГАР") if "Территория ГАР" in columns else 5
    rows = (
        pl.DataFrame({"line": lines[1:]}, schema={"line": pl.String})
        .with_row_index("row", offset=2)
        .filter(pl.col("line").str.strip_chars() != "")
        .select(
            "row",
            fields=pl.col("line").str.split(";").list.eval(pl.element().str.strip_chars()),
        )
    )
    short = rows.filter(pl.col("fields").list.len() < 6)
    if short.height:
        row, fields = short.row(0)
        raise NumberingPlanError(f"{path}: row {row}: {len(fields)} fields, expected at least 6")
    for index, name in enumerate(("АВС/ DEF", "От", "До")):
        value = pl.col("fields").list.get(index)
        wrong = rows.filter(~value.str.contains(r"^\d+$")).select("row", value.alias("value"))
        if wrong.height:
            row, text_value = wrong.row(0)
            raise NumberingPlanError(f"{path}: row {row}: field {name!r} is {text_value!r}")
    territory = pl.col("fields").list.get(territory_at, null_on_oob=True)
    return rows.select(
        code=pl.col("fields").list.get(0).cast(pl.Int32),
        range_start=pl.col("fields").list.get(1).cast(pl.Int64),
        range_end=pl.col("fields").list.get(2).cast(pl.Int64),
        operator=pl.col("fields").list.get(4),
        # "Регион" is a dash in some rows; "Территория ГАР" is always filled.
        territory=pl.when(territory.is_in(["", "-"]) | territory.is_null())
        .then(pl.col("fields").list.get(5))
        .otherwise(territory),
    )


def read_numbering_plan(paths: Iterable[Path]) -> pl.DataFrame:
    """Read the regulator's range files into `NUMBERING_PLAN_SCHEMA`.

    Raises
    ------
    NumberingPlanError
        For a file without the plan's header, or a row whose code or range is not a
        number (the file, row and field are named).
    """
    paths = sorted(Path(path) for path in paths)
    if not paths:
        raise NumberingPlanError("no numbering plan files given")
    contents = {path: path.read_bytes() for path in paths}
    digest = hashlib.sha256()
    for raw in contents.values():
        digest.update(raw)
    ranges = pl.concat([_read_file(path, raw) for path, raw in contents.items()])
    territories = ranges.get_column("territory").unique().drop_nulls().to_list()
    regions = pl.DataFrame(
        [(t, *(region_of_territory(t) or (None, None, None))) for t in territories],
        schema={
            "territory": pl.String,
            "region_ru": pl.String,
            "region_en": pl.String,
            "time_zone": pl.String,
        },
        orient="row",
    )
    return (
        ranges.join(regions, on="territory", how="left")
        .with_columns(plan_version=pl.lit(digest.hexdigest()[:16]))
        .select(list(NUMBERING_PLAN_SCHEMA))
        .sort("code", "range_start")
    )


def plan_descriptions(phones: pl.Series, plan: pl.DataFrame) -> pl.DataFrame:
    """Region and time zone of each Russian number (``+7`` and ten digits) in ``plan``.

    Returns
    -------
    polars.DataFrame
        ``phone_e164``, ``region_ru``, ``region_en``, ``time_zone`` for the numbers a
        range of the plan holds and names a region for.
    """
    numbers = (
        phones.drop_nulls()
        .unique()
        .to_frame("phone_e164")
        .filter(pl.col("phone_e164").str.contains(r"^\+7\d{10}$"))
        .with_columns(
            code=pl.col("phone_e164").str.slice(2, 3).cast(pl.Int32),
            number=pl.col("phone_e164").str.slice(5, 7).cast(pl.Int64),
        )
        .sort("code", "number")
    )
    ranges = plan.filter(pl.col("region_ru").is_not_null()).sort("code", "range_start")
    # Both sides are sorted by (code, start) above, which polars cannot check per group.
    found = numbers.join_asof(
        ranges,
        left_on="number",
        right_on="range_start",
        by="code",
        strategy="backward",
        check_sortedness=False,
    ).filter(pl.col("number") <= pl.col("range_end"))

    return found.select("phone_e164", "region_ru", "region_en", "time_zone")


def write_numbering_plan(plan: pl.DataFrame, path: Path) -> None:
    """Store a plan read by `read_numbering_plan` where ``enrich.numbering_plan`` says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    plan.write_parquet(temporary)
    temporary.replace(path)


def load_numbering_plan(path: Path | None) -> pl.DataFrame | None:
    """The stored plan, or None when none is configured or loaded yet."""
    if path is None or not path.exists():
        return None
    plan = pl.read_parquet(path)
    missing = set(NUMBERING_PLAN_SCHEMA) - set(plan.columns)
    if missing:
        raise NumberingPlanError(
            f"{path}: not a numbering plan written by `dedup numbering-plan load` "
            f"(missing {', '.join(sorted(missing))}); load it again"
        )
    return plan
