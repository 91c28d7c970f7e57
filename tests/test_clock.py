from datetime import UTC, datetime

import pytest

from mpesa_lab.clock import NAIROBI, daraja_timestamp, nairobi_now, parse_daraja_timestamp


def test_timestamp_is_nairobi_time_whatever_the_host_zone(host_tz):
    moment = datetime(2024, 7, 10, 6, 15, 26, tzinfo=UTC)
    assert daraja_timestamp(moment) == "20240710091526"
    now_utc = datetime.now(UTC)
    stamp = parse_daraja_timestamp(daraja_timestamp())
    assert abs((stamp - now_utc).total_seconds()) < 5
    assert nairobi_now().utcoffset().total_seconds() == 3 * 3600


def test_naive_datetimes_are_taken_as_utc():
    assert daraja_timestamp(datetime(2021, 6, 28, 6, 24, 8)) == "20210628092408"


@pytest.mark.parametrize("value", ["20191219102115", 20191219102115, 20191219102115.0])
def test_parse_accepts_strings_and_numbers(value):
    parsed = parse_daraja_timestamp(value)
    assert parsed == datetime(2019, 12, 19, 10, 21, 15, tzinfo=NAIROBI)


@pytest.mark.parametrize("value", ["2019121910211", "20191319102115", "abc", True, 1.5, ""])
def test_parse_rejects_what_is_not_a_timestamp(value):
    with pytest.raises(ValueError, match="Daraja timestamp"):
        parse_daraja_timestamp(value)
