"""명령줄 도구: `python -m course_lib <명령>` (또는 설치 후 `course-lib <명령>`).

명령은 아래 `COMMANDS` 표 한 곳에 등록한다. 새 명령을 더하려면 `add_arguments(parser)`와 `run(args) -> int`
두 함수를 만들고 표에 한 줄을 넣으면 된다.

두 가지 약속:
- 파서(parser)는 torch·transformers·open_clip 없이 만든다. 인자 정의는 이 파일에 있고, 무거운 모듈은 `run` 안에서
  부른다. 그래서 `--help`가 빠르고, torch가 깨진 환경에서도 `doctor`가 떠서 그것을 알린다(tests/test_cli.py).
- 오류는 한 곳(`main`)에서 받는다. 강의의 오류(`course_lib.errors.CourseError`), 틀린 명령줄 인자, 명령이 부르는
  패키지(nbformat 등)가 없는 설치는 표준 오류에 `키: 한국어 (키: English)` 한 줄로 알리고 종료 코드 2로 끝낸다
  (트레이스백 없음).

명령 없이 부르면(`python -m course_lib`) git·pip처럼 명령 목록을 보이고 0으로 끝난다.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from course_lib import REPO_ROOT, quiet
from course_lib.errors import CourseError, check_output_folder, config_error, did_you_mean, one_line

# 프리셋 이름. presets.py는 torch를 불러오므로 파서는 이 가벼운 묶음을 쓴다. presets.PRESETS와 같은지는
# tests/test_cli.py가 확인한다(이름의 출처는 presets.PRESETS 하나, 여기는 그 사본).
PRESET_NAMES = ("mini", "mini-v1", "mini-v2", "colab", "full")


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- 틀린 인자도 한 줄로 ----------------------------------------------------------------------------
class CourseArgumentParser(argparse.ArgumentParser):
    """argparse의 오류(사용법 + 영어 한 줄, 종료 2)를 `ConfigError` 한 줄(한국어 + 영어 키)로 바꾼다."""

    def add_argument(self, *names, **kwargs):
        # argparse.__init__이 -h를 더할 때 이미 불린다: 목록은 처음 부를 때 만든다
        self.known_options = getattr(self, "known_options", []) + [n for n in names if n.startswith("-")]
        return super().add_argument(*names, **kwargs)

    def error(self, message: str):
        raise argument_error(message, self.prog, getattr(self, "known_options", []))


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text) or [t.strip() for t in text.split(",")]


def argument_error(message: str, prog: str, options: list[str]) -> CourseError:
    """argparse의 영어 메시지를 `키: 한국어 (키: english)` 한 줄로."""
    hint = f"`{prog} --help`로 쓸 수 있는 인자를 보세요"
    if m := re.match(r"argument (\S+?)(?:/\S+)?: invalid choice: '?(.*?)'? \(choose from (.*)\)$", message):
        key, value, choices = m.group(1).lstrip("-"), m.group(2), _quoted(m.group(3))
        key = {"명령": "command", "동작": "action"}.get(key, key)
        guess = did_you_mean(value, choices)
        return config_error(key, f"{value!r}은(는) 없는 값입니다.{guess} 고를 수 있는 값: {', '.join(choices)}",
                            "invalid choice")
    if m := re.match(r"argument (\S+?)(?:/\S+)?: invalid (int|float) value: '(.*)'$", message):
        key, kind, value = m.group(1).lstrip("-"), m.group(2), m.group(3)
        korean = "정수" if kind == "int" else "수"
        return config_error(key, f"{korean}여야 합니다. 받은 값 {value!r}", f"must be {'an integer' if kind == 'int' else 'a number'}")
    if m := re.match(r"argument (\S+?)(?:/\S+)?: expected one argument$", message):
        key = m.group(1).lstrip("-")
        return config_error(key, f"값이 하나 있어야 합니다(예: {m.group(1)} 값)", "expected one argument")
    if m := re.match(r"unrecognized arguments: (.*)$", message):
        words = m.group(1).split()
        first = next((w for w in words if w.startswith("-")), words[0])
        guess = did_you_mean(first.split("=")[0], options)
        return config_error(first.lstrip("-") or first, f"모르는 인자입니다: {' '.join(words)}.{guess} {hint}",
                            "unrecognized arguments")
    if m := re.match(r"the following arguments are required: (.*)$", message):
        names = m.group(1)
        first = names.split(",")[0].strip()
        key = {"명령": "command", "동작": "action"}.get(first, first.lstrip("-"))
        return config_error(key, f"꼭 있어야 하는 인자가 빠졌습니다: {names}. {hint}", "missing required argument")
    return config_error("arguments", f"명령줄 인자가 틀렸습니다: {message}. {hint}", "invalid command line")


# import 이름 → pip으로 설치하는 이름(다른 것만)
DISTRIBUTIONS = {"yaml": "pyyaml", "open_clip": "open_clip_torch", "PIL": "pillow"}
INSTALL_HINT = '저장소 루트에서 `pip install -c constraints.txt -e ".[dev]"`(README 명령 1)로 설치하세요'


def missing_dependency(err: ImportError) -> CourseError:
    """명령이 부르는 패키지(nbformat 등)를 import할 수 없을 때의 한 줄."""
    top = err.name.split(".")[0]
    dist = DISTRIBUTIONS.get(top, top)
    if isinstance(err, ModuleNotFoundError):
        korean = f"이 명령에 필요한 패키지 {dist}가 설치되어 있지 않습니다(import {err.name} 실패). {INSTALL_HINT}"
        english = f"missing package {dist}"
    else:
        korean = (f"패키지 {dist}를 불러올 수 없습니다({type(err).__name__}: {one_line(err)[:160]}). 버전이 맞지 않거나 "
                  f"설치가 깨졌습니다. {INSTALL_HINT}")
        english = f"cannot import {dist}"
    return CourseError(f"dependency: {korean} (dependency: {english})")


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=None,
                        help="강의 저장소 폴더(기본: 이 패키지가 든 저장소). 시험은 임시 사본을 준다")


def _repository(args: argparse.Namespace, markers: bool = False) -> Path:
    """--root(기본: 이 저장소)가 강의 저장소인지, pyproject의 [tool.course]와 노트북을 읽을 수 있는지 본다.
    강의 도구가 파일을 쓰기 전에 부르므로, 거부된 명령은 저장소를 하나도 바꾸지 않는다. `markers`면 원본 노트북의
    정답 표시(### BEGIN/END SOLUTION)의 짝도 본다(학생용 사본을 만드는 명령)."""
    import nbformat  # 명령을 실행할 때만(--help는 가볍게)

    from course_lib.tooling import project, student  # 명령을 실행할 때만(--help는 가볍게)

    root = Path(args.root) if getattr(args, "root", None) else REPO_ROOT
    if not root.is_dir():
        raise config_error("root", f"폴더 {root}이(가) 없습니다", "folder not found")
    if not (root / "pyproject.toml").is_file() or not (root / "notebooks").is_dir():
        raise config_error("root", f"{root}은(는) 강의 저장소가 아닙니다(pyproject.toml과 notebooks/가 있어야 합니다)",
                           "not a course repository")
    try:
        project.course_settings(root)
    except KeyError:
        raise config_error("pyproject", f"{root / 'pyproject.toml'}에 [tool.course] github_slug가 없습니다",
                           "missing [tool.course] github_slug") from None
    except ValueError as err:  # tomllib.TOMLDecodeError
        raise config_error("pyproject", f"{root / 'pyproject.toml'}을(를) TOML로 읽을 수 없습니다: {err}",
                           "invalid TOML") from None
    for path in project.course_notebooks(root):
        rel = path.relative_to(root).as_posix()
        try:
            nb = nbformat.read(path, as_version=4)
            if not isinstance(nb.get("cells"), list):
                raise ValueError("cells 목록이 없습니다")
        except Exception as err:  # 형식이 틀린 노트북 파일 하나: 어떤 오류든 그 파일 이름으로 알린다
            raise config_error("notebook", f"{rel}을(를) 노트북(JSON)으로 읽을 수 없습니다({type(err).__name__}: "
                               f"{one_line(err)[:160]}). git으로 되돌리거나 고치세요", "unreadable notebook") from None
        problems = student.marker_problems(nb, path.name) if markers and path.parent.name == "notebooks" else []
        if problems:
            raise config_error("notebook", f"{rel}: {problems[0]}", "unbalanced solution markers")
    return root


# --- doctor -------------------------------------------------------------------------------------
def _doctor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="자산 폴더(기본: data/, 또는 COURSE_DATA_DIR)")
    parser.add_argument("--preset", default=None, choices=PRESET_NAMES,
                        help="이 프리셋에 필요한 메모리(계산)와 이 기계에서 돌릴 수 있는지 판정")
    parser.add_argument("--gpu-gib", type=float, default=None, help="--preset 판정에 쓸 GPU 메모리(GiB; 기본: 이 GPU)")


def _doctor_run(args: argparse.Namespace) -> int:
    if args.gpu_gib is not None:
        if not args.preset:
            raise config_error("gpu-gib", "--preset과 함께 써야 합니다(예: --preset colab --gpu-gib 16)", "needs --preset")
        if not math.isfinite(args.gpu_gib) or args.gpu_gib <= 0:
            raise config_error("gpu-gib", f"0보다 큰 유한한 수여야 합니다. 받은 값 {args.gpu_gib}", "must be > 0")
    if args.preset:
        from course_lib.tooling.doctor import preset_main  # 실행할 때만: --help는 torch 없이 뜬다

        return preset_main(args.preset, args.data_dir, args.gpu_gib)
    from course_lib.tooling.doctor import main  # 실행할 때만: --help는 torch 없이 뜬다

    return main(args.data_dir)


# --- badges, readme ------------------------------------------------------------------------------
def _check_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="고치지 않고 검사만 한다(쓰기 모드가 쓰는 것 가운데 하나라도 다르면 종료 코드 1)")
    _add_root(parser)


def _report_check(problems: list[str], ok: str, fix: str) -> int:
    """--check의 보고: 문제마다 한 줄, 그리고 요약(문제가 있으면 고치는 명령과 종료 코드 1)."""
    for line in problems:
        print(line)
    print(ok if not problems else f"문제 {len(problems)}개: `{fix}` 로 고치세요")
    return 1 if problems else 0


def _report_changed(changed: list[Path], current: str) -> int:
    for path in changed:
        print("고침:", path)
    print(f"{len(changed)}개 파일을 고쳤습니다." if changed else current)
    return 0


def _badges_run(args: argparse.Namespace) -> int:
    from course_lib.tooling.badges import badge_problems, regenerate  # 실행할 때만: --help는 torch 없이 뜬다

    root = _repository(args)
    if args.check:
        return _report_check(badge_problems(root), "배지·준비 셀 문제 없음", "python -m course_lib badges")
    return _report_changed(regenerate(root), "모든 배지와 준비 셀이 이미 최신입니다.")


def _readme_run(args: argparse.Namespace) -> int:
    from course_lib.tooling import readme  # 실행할 때만: --help는 torch 없이 뜬다

    root = _repository(args)
    if args.check:
        return _report_check(readme.stale_sections(root), "README·INSTRUCTORS의 만든 부분 최신", "python -m course_lib readme")
    return _report_changed(readme.regenerate(root), "README와 INSTRUCTORS.md의 만든 부분이 이미 최신입니다.")


# --- exercises ----------------------------------------------------------------------------------
def _exercises_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="동작", required=True)
    parser.children = {
        "release": sub.add_parser("release", help="학생용 사본(notebooks/student/*.ipynb)을 원본에서 다시 만든다"),
        "check": sub.add_parser("check", help="학생용 사본이 원본과 맞는지 검사만 한다(낡았으면 종료 코드 1)"),
        "list": sub.add_parser("list", help="노트북마다 연습문제 번호, 난이도, 제목"),
    }
    parser.children["release"].add_argument("--out", default=None, help="사본을 쓸 폴더(기본: notebooks/student)")
    for action in parser.children.values():
        _add_root(action)


def _exercises_run(args: argparse.Namespace) -> int:
    from course_lib.tooling import student  # 실행할 때만: --help는 torch 없이 뜬다

    root = _repository(args, markers=True)
    if args.action == "release":
        if args.out is not None:
            check_output_folder(Path(args.out))
        changed = student.release(root, out_dir=args.out)
        for path in changed:
            print("바꿈:" if path.exists() else "지움:", path)
        print(f"학생용 사본 {len(changed)}개를 바꿨습니다." if changed else "학생용 사본이 이미 최신입니다.")
        return 0
    if args.action == "check":
        return _report_check(student.stale_copies(root), "학생용 사본 최신", "python -m course_lib exercises release")
    return _exercises_list(root)


def _exercises_list(root: Path) -> int:
    import nbformat  # 실행할 때만

    from course_lib.tooling.course_map import measured_minutes  # 실행할 때만: --help는 torch 없이 뜬다
    from course_lib.tooling import student  # 실행할 때만: --help는 torch 없이 뜬다
    from course_lib.tooling.exercises import by_notebook  # 실행할 때만: --help는 torch 없이 뜬다

    groups = by_notebook()
    used = {}
    for path in student.source_notebooks(root):
        used[path.name[:2]] = (path.name, student.notebook_check_ids(nbformat.read(path, as_version=4)))
    total = 0
    for prefix in sorted(set(groups) | set(used)):
        name, ids = used.get(prefix, (f"{prefix}_…(노트북 없음)", []))
        exercises = groups.get(prefix, [])
        minutes = measured_minutes(root / "notebooks" / name)
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
    from course_lib.tooling import glossary, prose  # 실행할 때만: --help는 torch 없이 뜬다

    return max(glossary.print_report(), prose.print_report())


# --- train / pretrain ------------------------------------------------------------------------------
def _train_args(parser: argparse.ArgumentParser) -> None:
    """`course_lib.training.main_job.run`이 읽는 인자. 여기(가벼운 모듈)에 두어 --help가 torch 없이 뜬다."""
    parser.add_argument("--preset", default=None, choices=PRESET_NAMES, help="설정 묶음(기본 mini)")
    parser.add_argument("--config", default=None, help="TrainConfig JSON 파일(프리셋 대신)")
    parser.add_argument("--out", default=None,
                        help="결과 폴더(기본 runs/<프리셋>: runs/mini, --preset full이면 runs/full. --config면 그 파일의 "
                             "preset 칸: runs/<preset>)")
    parser.add_argument("--resume", action="store_true", help="--out의 마지막 체크포인트에서 재개(resume)한다")
    parser.add_argument("--max-steps", type=int, default=None, help="이 옵티마이저 걸음 수에서 멈춘다(시험용)")
    parser.add_argument("--seed", type=int, default=None, help="프리셋의 시드를 바꾼다")
    parser.add_argument("--data-dir", default=None, help="사전학습 자산 폴더(기본 data/)")
    parser.add_argument("--no-progress", action="store_true", help="진행 막대를 끈다")
    parser.add_argument("--data", default=None,
                        help="실제 캡션 데이터: LLaVA 사전학습 JSON 또는 COCO captions JSON(colab/full에 필요)")
    parser.add_argument("--image-folder", default=None, help="--data의 그림 폴더(기본: JSON 옆 images/ 또는 JSON 폴더)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="설정 한 칸을 바꾼다. 예: --set n_train=20000 --set stages.1.batch_size=8 "
                             "(단계 번호는 0부터)")


def default_run_folder(preset: str) -> Path:
    """--out을 주지 않은 train의 결과 폴더: runs/<프리셋 이름>. 프리셋마다 폴더가 달라 full 실행이 mini 실행 폴더에
    쓰거나 그 폴더 때문에 거부되지 않는다. 폴더 이름으로 쓸 수 없는 이름(--config 파일의 preset 칸)은 runs/custom."""
    safe = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", preset or "")
    return Path("runs") / (preset if safe else "custom")


def _train_run(args: argparse.Namespace) -> int:
    from course_lib.training.main_job import load_config, run  # 실행할 때만: --help는 torch 없이 뜬다

    if args.out is None:  # 설정(--preset, --config, --set)을 읽어야 프리셋 이름을 안다. 틀린 설정은 여기서 거부된다
        args.out = str(default_run_folder(load_config(args).preset))
    return run(args)


def _pretrain_args(parser: argparse.ArgumentParser) -> None:
    """`course_lib.pretrain.run`이 읽는 인자. 기본값(None)은 PretrainConfig의 기본값을 뜻한다(기본값은 그곳 하나에)."""
    parser.add_argument("--out", default=None, help="저장할 폴더(기본: data/)")
    parser.add_argument("--seed", type=int, default=None, help="시드(기본: PretrainConfig.seed)")
    parser.add_argument("--siglip-steps", type=int, default=None, help="SigLIP 학습 걸음(기본: PretrainConfig)")
    parser.add_argument("--llm-steps", type=int, default=None, help="LLM 학습 걸음(기본: PretrainConfig)")
    parser.add_argument("--n-train-scenes", type=int, default=None, help="학습 장면 수(기본: PretrainConfig)")
    parser.add_argument("--no-progress", action="store_true", help="진행 막대를 끈다")
    parser.add_argument("--force", action="store_true",
                        help="--out(기본 data/)의 자산이 매니페스트와 맞아도(온전해도) 다시 만들어 덮어쓴다. 없거나 손상된 "
                             "자산은 --force 없이 다시 만든다")


def _pretrain_run(args: argparse.Namespace) -> int:
    from course_lib.pretrain import run  # 실행할 때만: --help는 torch 없이 뜬다

    return run(args)


COMMANDS: dict[str, Command] = {
    "train": Command("본 작업: 두 단계 학습(1단계 프로젝터, 2단계 프로젝터+LoRA)과 평가", _train_args, _train_run),
    "pretrain": Command("미니 월드의 토크나이저·SigLIP·Qwen3를 사전학습해 data/에 저장", _pretrain_args, _pretrain_run),
    "doctor": Command("환경 점검: 버전, CPU/GPU, bf16, data/ 자산, 한글 글꼴", _doctor_args, _doctor_run),
    "badges": Command("모든 노트북(원본과 학생용 사본)의 Colab 배지(셀 1)와 Colab 준비 코드(셀 2)를 다시 쓴다",
                      _check_args, _badges_run),
    "readme": Command("README의 강의 지도 표·본 작업의 잰 값·스레드 정책 문장과 INSTRUCTORS.md 시간표를 "
                      "노트북과 bench/results/에서 다시 쓴다", _check_args, _readme_run),
    "glossary": Command("글 검사: 용어의 처음 풀이, 쓰지 않는 말과 단위(GLOSSARY.md), 산문의 숫자가 출력에 있는지",
                        _glossary_args, _glossary_run),
    "exercises": Command("연습문제: 학생용 사본 만들기(release)·검사(check)·목록(list)", _exercises_args, _exercises_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = CourseArgumentParser(prog="python -m course_lib", description="VLM 2단계 학습과 LoRA 강의 도구",
                                  epilog="명령마다 인자: python -m course_lib <명령> --help")
    # 명령이 없으면 오류 대신 명령 목록을 보인다(git, pip처럼): main이 처리한다
    sub = parser.add_subparsers(dest="command", metavar="명령", required=False)
    parser.children = {}
    for name, command in COMMANDS.items():
        parser.children[name] = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(parser.children[name])
    return parser


def main(argv: list[str] | None = None) -> int:
    """명령 하나를 실행하고 종료 코드를 돌려준다. 강의의 오류는 여기 한 곳에서 한 줄로 알린다(종료 코드 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if args.command is None:  # `python -m course_lib`, `python -m course_lib --hlep`: 명령 목록을 보인다
            parser.print_help()
            if extra:  # 틀린 인자는 한 줄로 알린다(가장 가까운 인자와 --help를 권한다)
                parser.error("unrecognized arguments: " + " ".join(extra))
            return 0
        if extra:  # 모르는 인자는 그 명령의 파서가 알린다(그 명령의 인자 가운데 비슷한 것을 찾아 준다)
            command = parser.children[args.command]
            command = getattr(command, "children", {}).get(getattr(args, "action", None), command)
            command.error("unrecognized arguments: " + " ".join(extra))
        args.command_line = argv  # 매니페스트에 남길 명령(pretrain)
        quiet.install_log_filters()  # 모든 명령에서 표의 무해한 로그를 거른다(표준 라이브러리만: torch 없이도 된다)
        return COMMANDS[args.command].run(args)
    except CourseError as err:
        print(one_line(err), file=sys.stderr)
        return 2
    except ImportError as err:  # 명령이 부르는 패키지가 없거나 깨짐: 트레이스백 대신 한 줄(강의 자신의 모듈은 버그라 그대로)
        if not err.name or err.name.split(".")[0] == "course_lib":
            raise
        print(one_line(missing_dependency(err)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: 중단했습니다. train은 같은 명령에 --resume을 붙여 마지막 체크포인트에서 재개할 수 있습니다 "
              "(interrupted: stopped by the user)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
