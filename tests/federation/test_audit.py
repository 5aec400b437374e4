"""The hash-chained audit log and its verification after tampering."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from oncoatlas.federation.audit import AuditLog, verify
from oncoatlas.federation.cli import audit_verify


def make_log(path: Path, n: int = 5, fsync: bool = True) -> AuditLog:
    log = AuditLog(path, fsync=fsync)
    for i in range(n):
        log.append(token_id=f"t{i % 2}", endpoint="/search", spec_hash=f"{i:064x}", granularity="count",
                   result_size=i, status=200)
    return log


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_intact_log_verifies(tmp_path: Path) -> None:
    make_log(tmp_path / "a.jsonl")
    result = verify(tmp_path / "a.jsonl")
    assert result.ok and result.entries == 5
    entry = json.loads(lines(tmp_path / "a.jsonl")[0])
    assert set(entry) >= {"seq", "time", "token_id", "endpoint", "spec_hash", "granularity", "result_size",
                          "status", "prev", "hash"}


def test_edit_is_detected_at_the_edited_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    make_log(path)
    rows = lines(path)
    rows[2] = rows[2].replace('"result_size":2', '"result_size":0')
    path.write_text("".join(rows), encoding="utf-8")
    result = verify(path)
    assert not result.ok and result.first_bad_line == 3 and "edited" in result.reason


def test_rehashed_edit_is_detected_at_the_next_line(tmp_path: Path) -> None:
    from oncoatlas.federation.audit import canonical_json, entry_hash

    path = tmp_path / "a.jsonl"
    make_log(path)
    rows = lines(path)
    entry = json.loads(rows[1])
    entry["token_id"] = "someone-else"
    entry["hash"] = entry_hash(entry)
    rows[1] = canonical_json(entry) + "\n"
    path.write_text("".join(rows), encoding="utf-8")
    result = verify(path)
    assert not result.ok and result.first_bad_line == 3


def test_deletion_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    make_log(path)
    rows = lines(path)
    del rows[1]
    path.write_text("".join(rows), encoding="utf-8")
    result = verify(path)
    assert not result.ok and result.first_bad_line == 2 and "deleted" in result.reason


def test_reordering_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    make_log(path)
    rows = lines(path)
    rows[3], rows[4] = rows[4], rows[3]
    path.write_text("".join(rows), encoding="utf-8")
    result = verify(path)
    assert not result.ok and result.first_bad_line == 4


def test_truncation_is_detected_by_the_head(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    make_log(path)
    rows = lines(path)
    path.write_text("".join(rows[:3]), encoding="utf-8")
    result = verify(path)
    assert not result.ok and result.first_bad_line == 4 and "cut off" in result.reason


def test_concurrent_appends_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    logs = [AuditLog(path) for _ in range(4)]  # separate objects: locking goes through the file

    def work(log: AuditLog) -> None:
        for i in range(25):
            log.append(token_id="t", endpoint="/search", spec_hash=None, granularity="count", result_size=i,
                       status=200)

    threads = [threading.Thread(target=work, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify(path)
    assert result.ok and result.entries == 100


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    make_log(path)
    runner = CliRunner()
    ok = runner.invoke(audit_verify, [str(path)])
    assert ok.exit_code == 0 and "5 entries" in ok.output
    rows = lines(path)
    del rows[0]
    path.write_text("".join(rows), encoding="utf-8")
    bad = runner.invoke(audit_verify, [str(path)])
    assert bad.exit_code == 1
    assert "line 1" in bad.output


def test_verify_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "none.jsonl")


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=8))
def test_any_tampering_is_detected_at_the_right_line(tmp_path_factory: pytest.TempPathFactory,
                                                     data: st.DataObject, n: int) -> None:
    path = tmp_path_factory.mktemp("audit") / "a.jsonl"
    make_log(path, n, fsync=False)
    raw = path.read_bytes().splitlines(keepends=True)
    op = data.draw(st.sampled_from(["byte", "delete", "swap"]))
    if op == "byte":
        i = data.draw(st.integers(0, n - 1))
        j = data.draw(st.integers(0, len(raw[i]) - 2))  # not the newline
        new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i][j] and b != 10))
        raw[i] = raw[i][:j] + bytes([new]) + raw[i][j + 1:]
        expected = i + 1
    elif op == "delete":
        i = data.draw(st.integers(0, n - 1))
        del raw[i]
        expected = i + 1
    else:
        i = data.draw(st.integers(0, n - 2))
        j = data.draw(st.integers(i + 1, n - 1))
        raw[i], raw[j] = raw[j], raw[i]
        expected = i + 1
    path.write_bytes(b"".join(raw))
    result = verify(path)
    assert not result.ok
    assert result.first_bad_line == expected, (op, str(result))
