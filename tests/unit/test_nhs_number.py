import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ngrl_assets.consent import nhs_number


def test_valid_number_from_the_nhs_data_dictionary_example():
    # 943 476 5919: weights 10..2 over 943476591 sum to 299; 299 mod 11 = 2; 11 - 2 = 9
    assert nhs_number.validate("943 476 5919") == "9434765919"
    assert nhs_number.check_digit("943476591") == 9


def test_wrong_check_digit_is_rejected():
    with pytest.raises(nhs_number.NhsNumberError) as err:
        nhs_number.validate("9434765918")
    assert err.value.rule == "nhs_number_check_digit"


def test_check_value_10_is_never_a_valid_number():
    # find nine digits whose Modulus 11 result is 10, then try every possible last digit
    rng = random.Random(1)
    while True:
        nine = "".join(str(rng.randrange(10)) for _ in range(9))
        if nhs_number.check_digit(nine) is None:
            break
    for last in "0123456789":
        with pytest.raises(nhs_number.NhsNumberError) as err:
            nhs_number.validate(nine + last)
        assert err.value.rule == "nhs_number_check_value_10"


def test_remainder_zero_gives_check_digit_zero():
    rng = random.Random(2)
    while True:
        nine = "".join(str(rng.randrange(10)) for _ in range(9))
        total = sum(int(d) * w for d, w in zip(nine, nhs_number.WEIGHTS, strict=True))
        if total % 11 == 0:
            break
    assert nhs_number.check_digit(nine) == 0
    assert nhs_number.is_valid(nine + "0")


@pytest.mark.parametrize("raw", ["943476591", "94347659190", ""])
def test_wrong_length_is_rejected(raw):
    with pytest.raises(nhs_number.NhsNumberError) as err:
        nhs_number.validate(raw)
    assert err.value.rule in {"nhs_number_length", "nhs_number_missing"}


@pytest.mark.parametrize("raw", ["94347659A9", "9434765.19", "９４３４７６５９１９"])
def test_non_digits_are_rejected(raw):
    with pytest.raises(nhs_number.NhsNumberError) as err:
        nhs_number.validate(raw)
    assert err.value.rule == "nhs_number_non_digit"


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_numbers_validate_and_corruptions_do_not(seed):
    rng = random.Random(seed)
    number = nhs_number.generate(rng)
    assert nhs_number.is_valid(number)
    assert not nhs_number.is_valid(nhs_number.corrupt(number, rng))


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_validate_agrees_with_the_modulus_11_definition(number):
    total = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    expected_valid = check != 10 and int(number[9]) == (0 if check == 11 else check)
    assert nhs_number.is_valid(number) == expected_valid


@given(st.lists(st.text(alphabet="0123456789 a", min_size=0, max_size=12), max_size=50))
def test_vectorised_rules_agree_with_validate(values):
    import polars as pl

    frame = pl.DataFrame({"n": [v.replace(" ", "") for v in values]}, schema={"n": pl.String})
    got = frame.select(nhs_number.rule_expr("n")).to_series().to_list()
    for value, rule in zip(frame["n"], got, strict=True):
        try:
            nhs_number.validate(value)
            expected = None
        except nhs_number.NhsNumberError as exc:
            expected = exc.rule
        assert rule == expected, value
