"""City keys: one place, one key, whatever the spelling."""

import polars as pl

from dedup_pipeline.normalize.places import city_key


def keys(*names: str | None) -> list[str | None]:
    return city_key(pl.Series("city", list(names), dtype=pl.String)).to_list()


def test_spellings_scripts_and_abbreviations_of_one_city_share_a_key():
    moscow = keys("Москва", "г. Москва", "Moscow", "moskva", "МСК")
    petersburg = keys("Санкт-Петербург", "СПб", "Питер", "St. Petersburg", "sankt-peterburg")
    new_york = keys("New York", "NYC", "ny", "New York City")
    assert len(set(moscow)) == len(set(petersburg)) == len(set(new_york)) == 1
    assert len({moscow[0], petersburg[0], new_york[0]}) == 3


def test_region_after_a_comma_is_ignored_and_unknown_places_keep_their_name():
    assert keys("London, UK") == keys("london")
    assert keys("Boston, MA") == keys("Boston")
    assert keys("Урюпинск-на-Луне", None, "") == ["uryupinsk-na-lune", None, None]


def test_a_name_shared_by_several_cities_goes_to_the_biggest():
    # Moscow, Idaho is a city too; a CRM's "Moscow" is the capital.
    assert keys("Moscow") == keys("Москва")
