"""The emulated CRM merges as the real ones do: everything moves to the survivor."""

from datetime import UTC, datetime, timedelta

from dedup_pipeline.crm.emulator import CrmState, MergeOutcome


def _state() -> CrmState:
    ticks = iter(datetime(2026, 11, 23, tzinfo=UTC) + timedelta(minutes=n) for n in range(100))
    state = CrmState(now=lambda: next(ticks))
    state.add_contact(
        id=10, first_name="Иван", last_name="Петров", phones=["+79123456789"], city=None
    )
    state.add_contact(
        id=11, first_name="Иван", phones=["+79123456789", "+79161112233"], emails=["i@x.ru"],
        city="Пермь",
    )  # fmt: skip
    state.add_contact(id=12, first_name="Пётр", last_name="Петров")
    state.add_deal("first order", (10,))
    state.add_deal("second order", (11,))
    return state


def test_a_merge_moves_phones_emails_deals_and_empty_fields_to_the_survivor():
    state = _state()
    before = state.contacts[10].updated_at
    assert state.merge([10, 11]) is MergeOutcome.SUCCESS
    survivor = state.contacts[10]
    assert 11 not in state.contacts
    assert survivor.phones == ("+79123456789", "+79161112233")
    assert survivor.emails == ("i@x.ru",)
    assert survivor.city == "Пермь" and survivor.last_name == "Петров"
    assert sorted(deal.title for deal in state.deals_of(10)) == ["first order", "second order"]
    assert state.deals_of(11) == []
    assert survivor.updated_at > before


def test_a_strict_merge_of_disagreeing_values_is_a_conflict_and_changes_nothing():
    state = _state()
    contacts, deals = dict(state.contacts), dict(state.deals)
    assert state.conflicting_fields([10, 12]) == ["first_name"]
    assert state.merge([10, 12]) is MergeOutcome.CONFLICT
    assert state.contacts == contacts and state.deals == deals
    # Without strictness (HubSpot's primary object) the survivor's values win.
    assert state.merge([10, 12], strict=False) is MergeOutcome.SUCCESS
    assert state.contacts[10].first_name == "Иван"


def test_merging_an_unknown_or_already_merged_contact_is_not_found():
    state = _state()
    assert state.merge([10, 11]) is MergeOutcome.SUCCESS
    assert state.merge([10, 11]) is MergeOutcome.NOT_FOUND  # a second merge finds nothing
    assert state.merge([10]) is MergeOutcome.NOT_FOUND
