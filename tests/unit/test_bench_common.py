"""The pure parts of the benchmark helpers: percentiles, summaries, the table, the JSON line,
/proc parsing and the wrk script and summary."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from bench import common, loadgen


def test_percentile_interpolates_between_closest_ranks_like_numpy() -> None:
    values = [15, 20, 35, 40, 50]
    assert common.percentile(values, 0) == 15
    assert common.percentile(values, 100) == 50
    assert common.percentile(values, 50) == 35
    assert common.percentile(values, 40) == pytest.approx(29.0)
    assert common.percentile(values, 99) == pytest.approx(49.6)


def test_percentile_ignores_input_order() -> None:
    assert common.percentile([3, 1, 2], 50) == 2


def test_percentile_of_one_value_is_that_value() -> None:
    assert common.percentile([7.5], 99) == 7.5


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(common.percentile([], 50))


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        common.percentile([1, 2], q)


def test_p99_of_a_hundred_latencies_is_pulled_by_the_single_outlier() -> None:
    latencies = [0.001] * 99 + [0.101]
    summary = common.summarize(latencies)
    assert summary.count == 100
    assert summary.p50_ms == pytest.approx(1.0)
    assert summary.p99_ms == pytest.approx(1.0 + 0.01 * 100)  # 1% of the way to 101 ms
    assert summary.max_ms == pytest.approx(101.0)


def test_ratio_with_a_zero_or_nan_denominator_is_nan() -> None:
    assert common.ratio(1, 4) == 0.25
    assert math.isnan(common.ratio(1, 0))
    assert math.isnan(common.ratio(1, math.nan))


def test_table_pads_columns_and_right_aligns_numbers() -> None:
    text = common.format_table(["name", "req/s"], [["api", 1234.5], ["baseline-async", 99.0]])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "req/s"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].endswith("1,234")  # thousands separator, no decimals above 100
    assert lines[3].endswith("99.00")
    assert len(lines[2]) == len(lines[3])


def test_table_shows_nan_as_a_dash_and_booleans_as_words() -> None:
    text = common.format_table(["a", "b"], [[math.nan, True], [0.5, False]])
    assert text.splitlines()[2].split() == ["-", "yes"]
    assert text.splitlines()[3].split() == ["0.500", "no"]


def test_json_line_is_one_line_with_nan_as_null_and_dataclasses_expanded() -> None:
    line = common.json_line(
        "demo", {"ratio": math.nan, "memory": common.Memory(2, 10.123456, 5.0), "ok": True}
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data == {
        "benchmark": "demo",
        "ratio": None,
        "memory": {"processes": 2, "rss_mib": 10.1235, "pss_mib": 5.0},
        "ok": True,
    }


def test_kib_fields_are_read_from_proc_status_text() -> None:
    status = "Name:\tpython\nVmPeak:\t  200 kB\nVmRSS:\t   123456 kB\nThreads:\t4\n"
    assert common.parse_kib_fields(status, ["VmRSS"]) == {"VmRSS": 123456}
    assert common.parse_kib_fields(status, ["Pss"]) == {}


def test_the_process_tree_of_this_process_contains_itself() -> None:
    import os

    assert common.process_tree(os.getpid())[0] == os.getpid()
    memory = common.tree_memory(os.getpid())
    assert memory.processes >= 1
    assert memory.rss_mib > 1


def test_wrk_script_quotes_paths_and_headers_as_lua_strings() -> None:
    script = loadgen.wrk_script(['/v1/a"b', "/v1/c"], {"Authorization": "Bearer k"})
    assert 'local paths = {"/v1/a\\"b","/v1/c"}' in script
    assert 'wrk.headers["Authorization"] = "Bearer k"' in script
    assert loadgen.WRK_MARKER in script


def test_wrk_summary_is_parsed_into_throughput_and_milliseconds() -> None:
    output = (
        "Running 10s test @ http://127.0.0.1:8000\n"
        'WRK_JSON {"requests":20000,"duration_us":10000000,"bytes":1,"connect":0,"read":1,'
        '"write":0,"status":2,"timeout":0,"p50_us":1500,"p90_us":3000,"p99_us":9000,'
        '"max_us":20000,"mean_us":1700.0}\n'
    )
    result = loadgen.parse_wrk_output(output)
    assert result.rps == pytest.approx(2000.0)
    assert result.errors == 3
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (1.5, 9.0, 20.0)


def test_wrk_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="no wrk summary"):
        loadgen.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_an_http_response_is_read_to_the_end_of_its_body() -> None:
    async def read() -> tuple[tuple[int, bool], bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nConnection: close\r\n\r\nnopeX"
        )
        reader.feed_eof()
        answer = await loadgen._read_response(reader)
        return answer, await reader.read()

    (status, keep_alive), rest = asyncio.run(read())
    assert (status, keep_alive) == (404, False)
    assert rest == b"X"


def test_cpu_ticks_are_read_after_a_command_name_holding_spaces_and_parentheses() -> None:
    fields = ["S", *[str(n) for n in range(4, 14)], "250", "50", *["0"] * 30]
    stat = "1234 (python (api) x) " + " ".join(fields)
    assert common.parse_cpu_ticks(stat) == 300


def test_cpu_time_of_this_process_grows_when_it_works() -> None:
    import os

    before = common.tree_cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert common.tree_cpu_seconds(os.getpid()) > before


def test_ops_request_creations_are_counted_per_database_from_the_names_dbaas_gives() -> None:
    created = {
        "project-bench/db-00001-scale-0123456789ab": 1,
        "project-bench/db-00001-restart-ba9876543210": 2,
        "project-bench/orders-eu-expand-aaaaaaaaaaaa": 1,
        "other/db-00001-scale-0123456789ab": 1,
    }
    assert common.ops_requests_per_database(created) == {
        "project-bench/db-00001": 3,
        "project-bench/orders-eu": 1,
        "other/db-00001": 1,
    }


def test_a_name_dbaas_does_not_give_an_ops_request_is_refused() -> None:
    with pytest.raises(ValueError, match="not an OpsRequest name"):
        common.ops_requests_per_database({"ns/hand-made": 1})
