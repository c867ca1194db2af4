"""ICD-10 / OPCS-4 / A&E code forms and NHS date forms: the vectorised readers agree with
the plain functions, and both follow docs/landing.md."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ngrl_assets.clinical import codes, dates


@pytest.mark.parametrize(
    ("raw", "code", "flag"),
    [
        ("K358", "K358", None),
        ("K35.8", "K358", None),
        ("K35.8 ", "K358", None),
        ("I10X", "I10", None),
        ("I10-", "I10", None),
        ("I64", "I64", None),
        ("C61", "C61", None),
        ("E113-D", "E113", "D"),
        ("H360-A", "H360", "A"),
        ("G01X-A", "G01", "A"),
    ],
)
def test_icd10_forms_normalise(raw, code, flag):
    assert codes.normalise_icd10(raw) == (code, flag)
    frame = pl.DataFrame({"c": [raw]}).select(
        codes.icd10_invalid("c").alias("bad"),
        codes.icd10_code("c").alias("code"),
        codes.icd10_flag("c").alias("flag"),
    )
    assert frame.row(0) == (False, code, flag)


@pytest.mark.parametrize(
    "raw", ["C5O9", "1K35", "KK358", "R69XX", "C50.99.1", "K35.", "K3", "k358", "e113-d"]
)
def test_icd10_invalid_forms(raw):
    with pytest.raises(ValueError):
        codes.normalise_icd10(raw)
    assert pl.DataFrame({"c": [raw]}).select(codes.icd10_invalid("c")).item() is True


@given(st.text(alphabet="ACDKXZacdkxz0123456789.- ", max_size=8))
def test_icd10_vectorised_equals_plain(raw):
    frame = pl.DataFrame({"c": [raw]}).select(
        codes.icd10_invalid("c").alias("bad"), codes.icd10_code("c").alias("code")
    )
    bad, code = frame.row(0)
    if not raw.strip():
        assert (bad, code) == (False, None)
        return
    try:
        expected = codes.normalise_icd10(raw)[0]
    except ValueError:
        assert bad is True
    else:
        assert (bad, code) == (False, expected)


@pytest.mark.parametrize(
    ("raw", "code", "invalid"),
    [
        ("W401", "W401", False),
        ("-", None, False),
        ("&", None, False),
        ("", None, False),
        ("W40", None, True),
        ("W4011", None, True),
        ("w401", None, True),
    ],
)
def test_opcs4(raw, code, invalid):
    frame = pl.DataFrame({"c": [raw]}).select(
        codes.opcs4_invalid("c").alias("bad"), codes.opcs4_code("c").alias("code")
    )
    assert frame.row(0)[0] is invalid
    if not invalid:
        assert frame.row(0)[1] == code
        assert codes.normalise_opcs4(raw) == code if raw else True


@pytest.mark.parametrize(
    ("raw", "invalid"), [("01", False), ("9Z", True), ("A?", True), ("", False), ("123", True)]
)
def test_ae_diagnosis(raw, invalid):
    assert pl.DataFrame({"c": [raw]}).select(codes.ae_diagnosis_invalid("c")).item() is invalid


@pytest.mark.parametrize(
    ("raw", "value", "invalid"),
    [
        ("2024-01-31", dt.date(2024, 1, 31), False),
        ("20240131", dt.date(2024, 1, 31), False),
        ("31/01/2024", dt.date(2024, 1, 31), False),
        ("1800-01-01", None, False),
        ("1801-01-01", None, False),
        ("18000101", None, False),
        ("01/01/1801", None, False),
        ("", None, False),
        ("2024-02-30", None, True),
        ("20240230", None, True),
        ("30/02/2024", None, True),
        ("2024-1-3", None, True),
        ("31-01-2024", None, True),
    ],
)
def test_dates_in_three_forms_with_sentinels(raw, value, invalid):
    frame = pl.DataFrame({"d": [raw]}).select(
        dates.date_invalid("d").alias("bad"), dates.date_value("d").alias("v")
    )
    assert frame.row(0) == (invalid, value)
    if invalid:
        with pytest.raises(ValueError):
            dates.parse_date(raw)
    else:
        assert dates.parse_date(raw) == value


@given(st.dates(min_value=dt.date(1801, 1, 2), max_value=dt.date(2100, 1, 1)))
def test_every_real_date_parses_in_every_form(day):
    forms = [day.isoformat(), day.strftime("%Y%m%d"), day.strftime("%d/%m/%Y")]
    frame = pl.DataFrame({"d": forms}).select(dates.date_value("d"))
    assert frame.to_series().to_list() == [day] * 3


@pytest.mark.parametrize(
    ("raw", "invalid"), [("041982", False), ("131982", True), ("4198", True), ("", False)]
)
def test_mydob_is_mmyyyy(raw, invalid):
    assert pl.DataFrame({"d": [raw]}).select(dates.month_year_invalid("d")).item() is invalid


@pytest.mark.parametrize("raw", ["-", " - ", ""])
def test_icd10_no_code_filler_is_null_not_invalid(raw):
    """Real HES APC extracts write '-' in unused DIAG_4_nn positions: no code, null."""
    assert codes.normalise_icd10(raw) == (None, None)
    frame = pl.DataFrame({"c": [raw]}).select(
        codes.icd10_invalid("c").alias("bad"),
        codes.icd10_code("c").alias("code"),
        codes.icd10_flag("c").alias("flag"),
    )
    assert frame.row(0) == (False, None, None)


@pytest.mark.parametrize("raw", ["7999", "0000", "--", "-D", "X", "K35.8.", "I10--"])
def test_icd10_garbage_stays_invalid(raw):
    with pytest.raises(ValueError):
        codes.normalise_icd10(raw)
    assert pl.DataFrame({"c": [raw]}).select(codes.icd10_invalid("c")).item() is True


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("5", 5),
        ("5.0", 5),
        ("5.00", 5),
        ("-3", -3),
        ("-3.0", -3),
        ("0", 0),
        ("", None),
        ("5.5", ValueError),
        ("5.", ValueError),
        (".0", ValueError),
        ("five", ValueError),
        ("1e3", ValueError),
        ("5.0.0", ValueError),
        ("9999999999", ValueError),
    ],
)
def test_whole_numbers_as_hes_writes_them(raw, value):
    """HES writes counts such as DIAG_COUNT as 5.0: a whole number; 5.5 is not."""
    from ngrl_assets.clinical import validate

    got = pl.DataFrame({"n": [raw]}).select(validate.whole_number_expr(pl.col("n"))).item()
    if value is ValueError:
        assert got is None
        with pytest.raises(ValueError):
            validate.parse_whole_number(raw)
    else:
        assert got == value
        assert validate.parse_whole_number(raw) == value


@given(st.text(alphabet="-0123456789. ", max_size=12))
def test_whole_number_vectorised_equals_plain(raw):
    from ngrl_assets.clinical import validate

    text = raw.strip()
    got = pl.DataFrame({"n": [text]}).select(validate.whole_number_expr(pl.col("n"))).item()
    try:
        expected = validate.parse_whole_number(text)
    except ValueError:
        expected = None
    assert got == expected


def test_field_limits_per_kind_name_the_first_oversize_field():
    from ngrl_assets.clinical import validate
    from ngrl_assets.clinical.sources import FIELD_LIMITS, LINKAGE_FIELD_LIMIT, SOURCES

    apc = SOURCES["hes_apc"]
    columns = ["NEWNHSNO", "DOB", "GPPRAC", "DIAG_4_01", "EPIKEY"]
    limits = validate.field_limits(apc, columns)
    assert limits == {
        "NEWNHSNO": LINKAGE_FIELD_LIMIT,
        "DOB": LINKAGE_FIELD_LIMIT,
        "GPPRAC": FIELD_LIMITS["text"],
        "DIAG_4_01": FIELD_LIMITS["icd10"],
        "EPIKEY": FIELD_LIMITS["key"],
    }
    text_limit = FIELD_LIMITS["text"]
    frame = pl.DataFrame(
        {
            "NEWNHSNO": ["9990001111"] * 4,
            "DOB": ["1970-01-01"] * 4,
            "GPPRAC": ["A81001", "G" * text_limit, "G" * (text_limit + 1), "G" * (1 << 20)],
            "DIAG_4_01": ["K358", "K358", "K358", "D" * 65],
            "EPIKEY": ["1"] * 4,
        }
    )
    got = frame.select(validate.too_long_verdict(apc, columns)).to_series().to_list()
    assert got[:2] == [None, None]
    assert got[2] == f"field_too_long\tGPPRAC is longer than {text_limit} bytes"
    assert got[3] == f"field_too_long\tGPPRAC is longer than {text_limit} bytes"  # first wins
    # bytes, not characters: 128 two-byte characters are 256 bytes
    wide = frame.head(1).with_columns(pl.lit("\u00e9" * 128).alias("GPPRAC"))
    assert wide.select(validate.too_long_verdict(apc, columns)).item().startswith("field_too_long")


@given(
    st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2030, 12, 31)),
    st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_derived_age_is_whole_years_from_the_date_of_birth(event, born):
    """The age a curated clinical row carries (polars, over a column) equals consent's
    ``age_on`` (plain dates) for any pair of dates. It once came out as -1 for an episode
    on 2020-07-31 of a child born 2020-05-12: polars' Int8 month times 100 wrapped."""
    from ngrl_assets.clinical.validate import age_years
    from ngrl_assets.consent.eligibility import age_on

    frame = pl.DataFrame({"event": [event], "born": [born]})
    got = frame.select(age_years(pl.col("event"), pl.col("born")))["event"][0]
    assert got == age_on(born, event)


def test_derived_age_of_the_wrapped_case():
    from ngrl_assets.clinical.validate import age_years

    frame = pl.DataFrame({"event": [dt.date(2020, 7, 31)], "born": [dt.date(2020, 5, 12)]})
    assert frame.select(age_years(pl.col("event"), pl.col("born"))).item() == 0
