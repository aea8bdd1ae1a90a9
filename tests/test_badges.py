"""Colab 배지: 모든 노트북의 첫 줄이 자기 자신을 main 브랜치에서 여는 배지여야 한다(`badges`).
README와 INSTRUCTORS.md의 만든 부분(강의 지도 표, 잰 값, 스레드 정책, 시간표)은 만든 그대로다(`readme`)."""
import shutil

import nbformat
import pytest

from course_lib import REPO_ROOT
from course_lib.tooling import badges, readme
from course_lib.tooling.colab import SNIPPET_BEGIN, SNIPPET_END
from course_lib.tooling.course_map import LESSONS


def test_every_notebook_has_its_own_badge():
    notebooks = badges.course_notebooks()
    assert notebooks, "notebooks/ 에 노트북이 하나도 없다"
    problems = badges.badge_problems()
    assert not problems, "\n".join(problems) + "\n고치기: python -m course_lib badges"


def test_every_notebook_has_the_current_bootstrap_cell():
    settings = badges.course_settings()
    snippet = badges.bootstrap_snippet(settings.slug, settings.branch)
    for notebook in badges.course_notebooks():
        nb = nbformat.read(notebook, as_version=4)
        assert nb.cells[1].cell_type == "code" and snippet in nb.cells[1].source, notebook.name


def test_settings_come_from_pyproject():
    settings = badges.course_settings()
    assert settings.branch == "main" and settings.slug.count("/") == 1


def _mini_repo(tmp_path, slug="owner/repo"):
    """pyproject와 노트북 몇 개가 있는 가짜 저장소."""
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n[tool.course]\ngithub_slug = "{slug}"\nbranch = "main"\n', encoding="utf-8"
    )
    (tmp_path / "notebooks" / "student").mkdir(parents=True)
    for rel in ("notebooks/01_a.ipynb", "notebooks/student/01_a.ipynb"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# 제목"), nbformat.v4.new_code_cell("import math")]
        nbformat.write(nb, tmp_path / rel)
    return tmp_path


def test_missing_badge_is_reported(tmp_path):
    root = _mini_repo(tmp_path)
    problems = badges.badge_problems(root)
    assert len(problems) == 2 and all("배지가 없습니다" in p for p in problems)


def test_regenerate_fixes_badges_and_student_copies_point_to_themselves(tmp_path):
    root = _mini_repo(tmp_path)
    changed = badges.regenerate(root)
    assert len(changed) == 2
    assert badges.badge_problems(root) == []
    student = nbformat.read(root / "notebooks/student/01_a.ipynb", as_version=4)
    first_line = student.cells[0].source.split("\n")[0]
    assert first_line == (
        "[![Colab에서 열기](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/owner/repo/blob/main/notebooks/student/01_a.ipynb)"
    )
    assert student.cells[0].source.endswith("# 제목")
    code = student.cells[1].source
    assert code.startswith(SNIPPET_BEGIN) and SNIPPET_END in code and code.endswith("import math")
    assert badges.regenerate(root) == [], "두 번째 실행은 아무것도 바꾸지 않는다"


def test_badge_pointing_elsewhere_is_reported(tmp_path):
    root = _mini_repo(tmp_path)
    badges.regenerate(root)
    # 다른 노트북의 배지를 복사해 온 경우
    shutil.copy(root / "notebooks/01_a.ipynb", root / "notebooks/02_b.ipynb")
    problems = badges.badge_problems(root)
    assert len(problems) == 1 and "02_b.ipynb" in problems[0] and "가리킵니다" in problems[0]


def test_wrong_alt_text_is_reported(tmp_path):
    root = _mini_repo(tmp_path)
    badges.regenerate(root)
    path = root / "notebooks/01_a.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("Colab에서 열기", "Open In Colab")
    nbformat.write(nb, path)
    (problem,) = badges.badge_problems(root)
    assert "대체 텍스트" in problem


def test_slug_change_moves_every_badge(tmp_path):
    root = _mini_repo(tmp_path)
    badges.regenerate(root)
    _mini_repo_pyproject = root / "pyproject.toml"
    _mini_repo_pyproject.write_text(
        _mini_repo_pyproject.read_text(encoding="utf-8").replace("owner/repo", "other/place"), encoding="utf-8"
    )
    assert len(badges.badge_problems(root)) == 2
    badges.regenerate(root)
    nb = nbformat.read(root / "notebooks/01_a.ipynb", as_version=4)
    assert "github/other/place/blob/main/notebooks/01_a.ipynb" in nb.cells[0].source
    assert "https://github.com/other/place.git" in nb.cells[1].source
    assert nb.cells[1].source.count(SNIPPET_BEGIN) == 1


def test_readme_and_instructors_are_what_the_readme_command_writes():
    """README의 세 부분과 INSTRUCTORS.md의 시간표가 `python -m course_lib readme`가 만드는 것과 글자까지 같다
    (`readme --check`와 같은 함수). 잰 CPU 시간도 커밋된 노트북의 실행 기록에서 오므로 함께 비교한다."""
    assert readme.stale_sections() == [], "고치기: python -m course_lib readme"


def _docs_repo(tmp_path):
    """README, INSTRUCTORS, 노트북, bench/results/가 있는 저장소 사본(`readme`가 읽고 쓰는 것 전부). 저장소의 README가
    낡았어도(노트북을 다시 실행한 직후) 이 시험들이 같게 돌도록 사본은 먼저 최신으로 만든다."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks")
    shutil.copytree(REPO_ROOT / "bench" / "results", root / "bench" / "results")
    for name in ("pyproject.toml", "README.md", "INSTRUCTORS.md"):
        shutil.copy2(REPO_ROOT / name, root / name)
    readme.regenerate(root)
    assert readme.stale_sections(root) == []
    return root


@pytest.mark.parametrize("index", range(4), ids=["course-map", "bench", "threads", "lesson-times"])
def test_readme_check_catches_any_stale_section_and_readme_fixes_it(tmp_path, capsys, index):
    """만든 부분 하나만 낡아도 `readme --check`가 1로 끝나며 그 부분을 말하고, `readme`가 그 파일만 고친다."""
    from course_lib.__main__ import main

    root = _docs_repo(tmp_path)
    section = readme.generated_sections(root)[index]
    path = root / section.file
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(section.start + "\n", section.start + "\n낡은 줄\n", 1), encoding="utf-8")
    assert main(["readme", "--check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{section.file}: {section.start}" in out and "python -m course_lib readme" in out
    assert main(["badges", "--check", "--root", str(root)]) == 0  # 배지 검사는 README를 보지 않는다
    assert main(["readme", "--root", str(root)]) == 0
    assert path.read_text(encoding="utf-8") == text
    assert main(["readme", "--check", "--root", str(root)]) == 0


def test_readme_check_reports_a_missing_marker(tmp_path):
    root = _docs_repo(tmp_path)
    path = root / "INSTRUCTORS.md"
    path.write_text(path.read_text(encoding="utf-8").replace(readme.INSTRUCTORS_END, ""), encoding="utf-8")
    (problem,) = readme.stale_sections(root)
    assert problem.startswith("INSTRUCTORS.md: 표시") and "없습니다" in problem
    assert readme.regenerate(root) == []  # 표시가 없는 문서는 건드리지 않는다


def test_badges_check_covers_the_bootstrap_cell_it_writes(tmp_path):
    """`badges`가 쓰는 둘(배지, 셀 2의 준비 코드) 가운데 준비 코드만 낡아도 `badges --check`가 알린다."""
    root = _mini_repo(tmp_path)
    badges.regenerate(root)
    path = root / "notebooks/01_a.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("github.com/owner/repo", "github.com/old/place")
    nbformat.write(nb, path)
    (problem,) = badges.badge_problems(root)
    assert problem.startswith("notebooks/01_a.ipynb: 셀 2의 Colab 준비 코드")
    assert badges.regenerate(root) == [path] and badges.badge_problems(root) == []


def test_cli_check_mode(capsys):
    from course_lib.__main__ import main

    assert main(["badges", "--check"]) == 0
    assert "배지·준비 셀 문제 없음" in capsys.readouterr().out


def test_instructor_commands_print_no_library_noise():
    """강사 명령도 본 작업처럼 표의 무해한 로그(bitsandbytes의 `kernels` 안내 등)를 거른다: 출력에는 명령의 말만."""
    import subprocess
    import sys

    # readme는 연습문제 등록부를 불러오며 bitsandbytes까지 불러온다(badges는 torch 없이 돈다). README가 최신인지는
    # 위의 시험이 본다: 여기서는 종료 코드 0(최신)과 1(낡음) 모두 명령이 끝까지 돈 것이다
    done = subprocess.run([sys.executable, "-m", "course_lib", "readme", "--check"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    assert "kernels" not in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.file)
def test_lesson_file_names_are_ascii(lesson):
    assert lesson.file.isascii() and lesson.file.endswith(".ipynb")


def test_bench_section_shows_what_the_files_record(tmp_path):
    """기록 파일을 바꾸면 표가 바뀐다: 표의 수는 파일에서 온다(심어 둔 값이 그대로 나와야 한다)."""
    import json

    from course_lib.tooling import bench_report

    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    assert "아직 잰 기록이 없습니다" in bench_report.bench_section(tmp_path)
    attributes = {key: 0.9871 for key, _ in bench_report.ATTRIBUTES}
    final = {"command": "python bench/recipe_search.py --final", "date": "2026-01-02", "preset": "mini", "n_test": 123,
             "runs": [{"seed": 7, "test": dict(attributes, exact=0.9613), "blind": {"exact": 0.0042}, "val_exact": 0.9777}]}
    (results / "recipe_final.json").write_text(json.dumps(final), encoding="utf-8")
    assert "같은 시드, 다른 CPU" not in bench_report.bench_section(tmp_path)  # 예전 기계의 기록이 없으면 표도 없다
    earlier = dict(final, date="2025-12-31", runs=[{"seed": 7, "test": dict(attributes, exact=0.9333), "blind": {"exact": 0.0},
                                                    "val_exact": 0.95}, {"seed": 8, "test": {"exact": 0.5}}])
    (results / "recipe_final_2025-12-31.json").write_text(json.dumps(earlier), encoding="utf-8")
    search = {"rule": "규칙 X", "val_target": 0.96, "runs": [
        {"candidate": f"c{seed}", "description": "설명", "seed": seed, "steps": 11, "train_seconds": 5.0, "val_exact": 0.9555}
        for seed in (0,)]}
    (results / "recipe_search.json").write_text(json.dumps(search), encoding="utf-8")
    nf4 = {"command": "python bench/bench_nf4.py", "date": "2026-01-02", "cpu": "x86_64", "torch": "9.9", "threads": 3,
           "double_quant": True, "repeats": 5, "results": [
               {"size": 77, "bit_identical": True,
                "seconds": {"quantize": {"course_lib": 0.002, "bitsandbytes": 0.001, "ratio": 2.0},
                            "dequantize": {"course_lib": 0.0123, "bitsandbytes": 0.0041, "ratio": 3.0}}}]}
    (results / "nf4.json").write_text(json.dumps(nf4), encoding="utf-8")
    compiled = {"command": "python bench/bench_compile.py", "date": "2026-01-02", "cpu": "x86_64", "torch": "9.9",
                "threads": 3, "stage": "stage2", "steps": 9, "cold_cache": True, "runs": [{}, {}],
                "eager": {"median_step_s": 0.2}, "compiled": {"median_step_s": 0.1}, "compile_seconds": 42.4,
                "step_ratio_compiled_to_eager": 0.5, "main_job_steps": 1000,
                "main_job_step_seconds_estimate": {"eager": 200.0, "compiled": 142.0},
                "max_loss_gap_compiled_vs_eager": 3e-5}
    (results / "compile.json").write_text(json.dumps(compiled), encoding="utf-8")
    grouped = {"command": "python bench/bench_length_group.py", "date": "2026-01-02", "cpu": "x86_64", "torch": "9.9",
               "cpu_capability": "AVX9", "threads": 3, "steps": 9, "rounds": 2,
               "group_batches": 5,
               "summary": {"default": {"stage1": {"median_step_ms": 300.0, "padding_fraction": 0.2071}},
                           "group5": {"stage1": {"median_step_ms": 240.0, "padding_fraction": 0.0313}}},
               "step_ratio_grouped_to_default": {"stage1": 0.8}}
    (results / "length_group.json").write_text(json.dumps(grouped), encoding="utf-8")
    text = bench_report.bench_section(tmp_path)
    for planted in ("0.961", "0.004", "0.978", "123장면", "0.956", "규칙 X", "| 7 |", "77×77", "12.3 ms 대 4.1 ms(3.00×)",
                    "200 ms → 100 ms(0.50×)", "컴파일 약 42초", "200초 → 142초(0.71×)", "3.0e-05",
                    "채움 20.7% → 3.1%", "300 ms → 240 ms(0.80×)", "배치 5개", "AVX9", "스레드 3",
                    "| 2025-12-31, CPU 기록 없음 | 0.933 |", "| 2026-01-02, CPU 기록 없음 | 0.961 |", "최대 0.028"):
        assert planted in text, planted


def test_length_group_sentence_reads_the_preset_and_the_search(monkeypatch):
    """README의 "mini가 켠다/켜지 않는다"와 그 까닭은 프리셋의 값과 검증 탐색의 기록에서 나온다(손으로 적지 않는다)."""
    from dataclasses import replace

    from course_lib import presets
    from course_lib.tooling import bench_report

    used = presets.mini().length_group_batches
    assert "다시 해야" in bench_report.length_group_verdict(99) and f"값 {used}" in bench_report.length_group_verdict(99)
    search = {"val_target": 0.96, "runs": [_search_run("base", s, v, 10.0) for s, v in ((0, 0.951), (1, 0.952), (2, 0.953))]
              + [_search_run("base-group5", s, v, 8.0) for s, v in ((0, 0.911), (1, 0.912), (2, 0.913))]}
    text = bench_report.length_group_verdict(5, search)
    for planted in ("`base-group5`", "0.911 / 0.912 / 0.913(최소 0.911)", "`base`의 0.951 / 0.952 / 0.953(최소 0.951)",
                    "낮아", "켜지 않습니다"):
        assert planted in text, planted
    assert "다시 해야" in bench_report.length_group_verdict(6, search)  # 그 묶기를 시험한 후보가 없다
    original = presets.mini
    monkeypatch.setattr(presets, "mini", lambda: replace(original(), length_group_batches=5))
    assert "켭니다(`length_group_batches=5`)" in bench_report.length_group_verdict(5, search)


def _search_run(candidate, seed, val, seconds):
    return {"candidate": candidate, "description": "", "seed": seed, "steps": 1, "train_seconds": seconds,
            "val_exact": val}


def test_recipe_rule_prefers_the_fastest_candidate_that_passes_on_every_seed():
    """규칙(bench/recipe_search.py): 모든 시드 ≥ 목표인 후보 가운데 가장 빠른 것. 시드를 덜 돈 후보는 통과가 아니다."""
    from course_lib.tooling.bench_report import chosen_candidate, recipe_verdict

    runs = ([_search_run("slow", s, 0.99, 300.0) for s in (0, 1, 2)]
            + [_search_run("fast", s, 0.97, 100.0) for s in (0, 1, 2)]
            + [_search_run("fails-once", s, v, 50.0) for s, v in ((0, 0.99), (1, 0.99), (2, 0.959))]
            + [_search_run("two-seeds", s, 0.99, 10.0) for s in (0, 1)])
    search = {"val_target": 0.96, "runs": runs}
    rows = recipe_verdict(search)
    assert [r["candidate"] for r in rows[:2]] == ["fast", "slow"]
    assert {r["candidate"]: r["passes"] for r in rows} == {"fast": True, "slow": True, "fails-once": False,
                                                          "two-seeds": False}
    assert chosen_candidate(search) == "fast"


def test_recipe_rule_falls_back_to_the_highest_minimum_among_complete_candidates():
    from course_lib.tooling.bench_report import chosen_candidate

    runs = ([_search_run("low", s, v, 10.0) for s, v in ((0, 0.99), (1, 0.93), (2, 0.99))]
            + [_search_run("steady", s, 0.95, 500.0) for s in (0, 1, 2)]
            + [_search_run("incomplete", 0, 0.999, 1.0)])
    assert chosen_candidate({"val_target": 0.96, "runs": runs}) == "steady"
    assert chosen_candidate({"val_target": 0.96, "runs": []}) is None


def test_thread_sentence_shows_what_the_files_record(tmp_path):
    import json

    from course_lib.tooling import bench_report

    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    assert "기록이 없습니다" in bench_report.threads_sentence(tmp_path)

    def row(loaded_ratio, quiet_ratio, rounds=(1.0, 1.0)):
        stage = {"median_s": 1.0, "round_medians_s": list(rounds)}
        return {"quiet": {"stage1": stage, "stage2": stage},
                "loaded_over_quiet": {"stage1": loaded_ratio, "stage2": loaded_ratio + 0.4},
                "quiet_over_default_quiet": {"stage1": quiet_ratio, "stage2": 1.0}}

    table = {"default": row(3.14, 1.0, rounds=(0.9, 1.27)), "spin1k": row(1.23, 1.31), "omp1": row(1.0, 1.77)}
    (results / "threads_x.json").write_text(json.dumps({"table": table}), encoding="utf-8")
    text = bench_report.threads_sentence(tmp_path)
    for planted in ("1.2–1.6배", "3.1–3.5배", "31% 느렸", "최대 37%", "1.0–1.8배", "threads_x.json"):
        assert planted in text, (planted, text)


def test_a_previous_recipe_is_compared_seed_by_seed_not_mixed_into_the_cpu_table(tmp_path):
    """`--final` 기록의 설정이 다르면(레시피가 바뀜) 같은 시드·다른 CPU 표가 아니라 레시피 비교 표에 놓는다."""
    import json
    from dataclasses import replace

    from course_lib import presets
    from course_lib.tooling import bench_report

    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    attributes = {key: 0.99 for key, _ in bench_report.ATTRIBUTES}

    def record(date, config, exacts):
        return {"command": "python bench/recipe_search.py --final", "date": date, "preset": "mini", "n_test": 9,
                "config": json.loads(config.to_json()),
                "runs": [{"seed": s, "test": dict(attributes, exact=e), "blind": {"exact": 0.0}, "val_exact": 0.9}
                         for s, e in enumerate(exacts)]}

    now, before = presets.mini(), replace(presets.mini_v2(), preset="mini")
    (results / "recipe_final.json").write_text(json.dumps(record("2026-02-02", now, [0.9871, 0.9712])))
    (results / "recipe_final_2026-01-01.json").write_text(json.dumps(record("2026-01-01", before, [0.9433, 0.9511])))
    text = bench_report.bench_section(tmp_path)
    assert "같은 시드, 다른 CPU" not in text and "지난 레시피와 견주기" in text
    for planted in ("0.987", "0.971", "0.943", "0.951", "0.971 / 0.979", "0.943 / 0.947", "2×2 합친 그림 토큰 4개, 1000걸음",
                    "패치 토큰 16개, 1200걸음"):
        assert planted in text, planted


def _merge_runs(values: dict[str, list[float]]) -> dict:
    return {"runs": [{"candidate": name, "seed": seed, "val_exact": v, "description": name, "steps": 10,
                      "evals": [{"stage": "stage1", "acc_exact": 0.1}, {"stage": "stage2", "acc_exact": v}]}
                     for name, vals in values.items() for seed, v in enumerate(vals)]}


def test_merge_rule_screens_confirms_and_takes_the_fastest_passing_candidate():
    """토큰 합치기 탐색의 규칙(bench/recipe_search.py): 선별(0·1·2 평균 ≥ 0.97, 모두 ≥ 0.95) → 결선(0~4 평균 ≥ 0.98,
    모두 ≥ 0.96) → 통과한 것 가운데 bench_train이 잰 가장 빠른 것. 경계의 값을 심는다."""
    from course_lib.tooling.bench_report import merge_search_table, merge_verdict

    search = _merge_runs({
        "slow": [0.99, 0.99, 0.99, 0.99, 0.99],
        "fast": [0.98, 0.98, 0.97, 0.98, 0.99],      # 평균 0.98, 최소 0.97: 통과
        "low-seed": [1.0, 1.0, 0.949],               # 평균은 높지만 한 시드 < 0.95: 결선에 못 오름
        "low-mean": [0.96, 0.97, 0.97],              # 평균 0.9667 < 0.97
        "fails-final": [0.99, 0.99, 0.99, 0.955, 1.0],  # 결선의 한 시드 < 0.96
    })
    verdict = merge_verdict(search)
    rows = {r["candidate"]: r for r in verdict["rows"]}
    assert [c for c, r in rows.items() if r["finalist"]] == ["slow", "fast", "fails-final"]
    assert [c for c, r in rows.items() if r["passes"]] == ["slow", "fast"]
    assert verdict["chosen"] is None and verdict["why"] == "needs-bench"  # 빠르기를 재기 전에는 고르지 않는다
    assert merge_verdict(search, {"slow": 200.0, "fast": 150.0})["chosen"] == "fast"
    assert merge_verdict(search, {"slow": 140.0, "fast": 150.0})["chosen"] == "slow"
    table = "\n".join(merge_search_table(search, {"slow": 200.0, "fast": 150.0}))
    assert "| `fast` ← 고름 |" in table and "0.949" in table and "결선, 못 미침" in table


def test_merge_rule_fallbacks_follow_the_rule_text():
    from course_lib.tooling.bench_report import merge_verdict

    confirmed = _merge_runs({"a": [0.98, 0.97, 0.97, 0.95, 0.99], "b": [0.99, 0.96, 0.97, 0.96, 0.96]})
    verdict = merge_verdict(confirmed)
    assert verdict["why"] == "fallback-finalists" and verdict["chosen"] == "a"  # 결선 평균 0.972 > 0.968
    screened = _merge_runs({"a": [0.96, 0.96, 0.96], "b": [0.94, 0.99, 0.99]})
    verdict = merge_verdict(screened)
    assert verdict["why"] == "fallback-screened" and verdict["chosen"] == "b"  # 결선 없음: 선별 평균이 높은 쪽
