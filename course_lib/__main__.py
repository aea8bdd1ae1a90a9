"""명령줄 도구: `python -m course_lib <명령>` (또는 설치 후 `course-lib <명령>`).

명령은 아래 `COMMANDS` 표 한 곳에 등록한다. 새 명령(train, pretrain, exercises …)을 더하려면
`add_arguments(parser)`와 `run(args) -> int` 두 함수를 만들고 표에 한 줄을 넣으면 된다.
무거운 import(torch 등)는 `run` 안에서 해서 `--help`가 빠르게 끝나도록 한다.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- doctor -------------------------------------------------------------------------------------
def _doctor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="자산 폴더(기본: data/, 또는 COURSE_DATA_DIR)")
    parser.add_argument("--preset", default=None, choices=("mini", "colab", "full"),
                        help="이 프리셋에 필요한 메모리(계산)와 이 기계에서 돌릴 수 있는지 판정")
    parser.add_argument("--gpu-gib", type=float, default=None, help="--preset 판정에 쓸 GPU 메모리(GiB; 기본: 이 GPU)")


def _doctor_run(args: argparse.Namespace) -> int:
    if args.preset:
        from course_lib.tooling.doctor import preset_main  # 실행할 때만: --help는 torch 없이 뜬다

        return preset_main(args.preset, args.data_dir, args.gpu_gib)
    from course_lib.tooling.doctor import main  # 실행할 때만: --help는 torch 없이 뜬다

    return main(args.data_dir)


# --- badges -------------------------------------------------------------------------------------
def _badges_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="고치지 않고 검사만 한다(문제가 있으면 종료 코드 1)")


def _badges_run(args: argparse.Namespace) -> int:
    from course_lib.tooling.badges import badge_problems, regenerate  # 실행할 때만: --help는 torch 없이 뜬다

    if args.check:
        problems = badge_problems()
        for line in problems:
            print(line)
        print("배지 문제 없음" if not problems else f"배지 문제 {len(problems)}개: `python -m course_lib badges` 로 고치세요")
        return 1 if problems else 0
    changed = regenerate()
    for path in changed:
        print("고침:", path)
    print(f"{len(changed)}개 파일을 고쳤습니다." if changed else "모든 배지가 이미 최신입니다.")
    return 0


# --- exercises ----------------------------------------------------------------------------------
def _exercises_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="동작", required=True)
    release = sub.add_parser("release", help="학생용 사본(notebooks/student/*.ipynb)을 원본에서 다시 만든다")
    release.add_argument("--out", default=None, help="사본을 쓸 폴더(기본: notebooks/student)")
    sub.add_parser("check", help="학생용 사본이 원본과 맞는지 검사만 한다(낡았으면 종료 코드 1)")
    sub.add_parser("list", help="노트북마다 연습문제 번호, 난이도, 제목")


def _exercises_run(args: argparse.Namespace) -> int:
    from course_lib.tooling import student  # 실행할 때만: --help는 torch 없이 뜬다

    if args.action == "release":
        changed = student.release(out_dir=args.out)
        for path in changed:
            print("바꿈:" if path.exists() else "지움:", path)
        print(f"학생용 사본 {len(changed)}개를 바꿨습니다." if changed else "학생용 사본이 이미 최신입니다.")
        return 0
    if args.action == "check":
        problems = student.stale_copies()
        for line in problems:
            print(line)
        print("학생용 사본 최신" if not problems else f"낡은 사본 {len(problems)}개: `python -m course_lib exercises release` 로 고치세요")
        return 1 if problems else 0
    return _exercises_list()


def _exercises_list() -> int:
    import nbformat  # 실행할 때만

    from course_lib import REPO_ROOT  # 실행할 때만: --help는 torch 없이 뜬다
    from course_lib.tooling.course_map import measured_minutes  # 실행할 때만: --help는 torch 없이 뜬다
    from course_lib.tooling import student  # 실행할 때만: --help는 torch 없이 뜬다
    from course_lib.tooling.exercises import by_notebook  # 실행할 때만: --help는 torch 없이 뜬다

    groups = by_notebook()
    used = {}
    for path in student.source_notebooks():
        used[path.name[:2]] = (path.name, student.notebook_check_ids(nbformat.read(path, as_version=4)))
    total = 0
    for prefix in sorted(set(groups) | set(used)):
        name, ids = used.get(prefix, (f"{prefix}_…(노트북 없음)", []))
        exercises = groups.get(prefix, [])
        minutes = measured_minutes(REPO_ROOT / "notebooks" / name)
        timing = f", CPU {minutes:.1f}분(커밋된 실행 시각에서 잰 값)" if minutes is not None else ""
        print(f"{name}: 연습문제 {len(exercises)}개{timing}")
        for ex in exercises:
            mark = "" if ex.exercise_id in ids else "  ← 노트북에서 check하지 않음"
            print(f"  {ex.exercise_id} {ex.level} {ex.title}{mark}")
        for exercise_id in ids:
            if exercise_id not in {ex.exercise_id for ex in exercises}:
                print(f"  {exercise_id} ← 등록되지 않은 번호(course_lib/tooling/exercises/ex{prefix}.py)")
        total += len(exercises)
    print(f"모두 {total}개")
    return 0


# --- glossary -----------------------------------------------------------------------------------
def _glossary_args(parser: argparse.ArgumentParser) -> None:
    pass


def _glossary_run(args: argparse.Namespace) -> int:
    from course_lib.tooling.glossary import load, report  # 실행할 때만: --help는 torch 없이 뜬다

    print(f"GLOSSARY.md: 용어 {len(load())}개")
    bad = 0
    for name, found in report().items():
        lines = [f"  처음 풀이: {p}" for p in found["처음 풀이"]] + [f"  용어집에 없음: {t}" for t in found["용어집에 없음"]]
        print(f"{name}: " + ("문제 없음" if not lines else f"문제 {len(lines)}개"))
        for line in lines:
            print(line)
        bad += len(lines)
    return 1 if bad else 0


# --- train / pretrain ------------------------------------------------------------------------------
def _train_args(parser: argparse.ArgumentParser) -> None:
    from course_lib.training.main_job import add_arguments  # 실행할 때만: --help는 torch 없이 뜬다

    add_arguments(parser)


def _train_run(args: argparse.Namespace) -> int:
    from course_lib.training.main_job import run  # 실행할 때만: --help는 torch 없이 뜬다

    return run(args)


def _pretrain_args(parser: argparse.ArgumentParser) -> None:
    from course_lib.pretrain import add_arguments  # 실행할 때만: --help는 torch 없이 뜬다

    add_arguments(parser)


def _pretrain_run(args: argparse.Namespace) -> int:
    from course_lib.pretrain import run  # 실행할 때만: --help는 torch 없이 뜬다

    return run(args)


COMMANDS: dict[str, Command] = {
    "train": Command("본 작업: 두 단계 학습(1단계 프로젝터, 2단계 프로젝터+LoRA)과 평가", _train_args, _train_run),
    "pretrain": Command("작은 세계의 토크나이저·SigLIP·Qwen3를 사전학습해 data/에 저장", _pretrain_args, _pretrain_run),
    "doctor": Command("환경 점검: 버전, CPU/GPU, bf16, data/ 자산, 한글 글꼴", _doctor_args, _doctor_run),
    "badges": Command("모든 노트북의 Colab 배지와 준비 셀, README 강의 지도, INSTRUCTORS.md 시간표를 다시 쓴다", _badges_args, _badges_run),
    "glossary": Command("용어 검사: 노트북이 용어집(GLOSSARY.md)의 용어를 처음 쓸 때 한국어로 풀이했는지", _glossary_args, _glossary_run),
    "exercises": Command("연습문제: 학생용 사본 만들기(release)·검사(check)·목록(list)", _exercises_args, _exercises_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description="VLM 2단계 학습과 LoRA 강의 도구")
    sub = parser.add_subparsers(dest="command", metavar="명령", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
