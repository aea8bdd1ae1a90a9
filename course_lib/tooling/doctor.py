"""환경 점검(`python -m course_lib doctor`): 노트북에 필요한 것이 모두 있는지 한국어로 알려 준다.

점검 항목: Python과 패키지 버전(pyproject의 범위 안인지, 실제로 import 되는지), CPU/GPU,
bf16 지원, `data/` 자산과 해시, 한글 글꼴. 노트북에 꼭 필요한 것이 빠지면 종료 코드가 1이다.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from course_lib import REPO_ROOT, data_dir as default_data_dir, quiet
from course_lib.assets import MANIFEST_NAME, REBUILD_COMMAND, verify_assets
from course_lib.display import display_width, pad
from course_lib.tooling.project import load_pyproject

OK, WARN, FAIL = "정상", "참고", "실패"

# 노트북이 import하는 핵심 패키지: (배포 이름, import 이름)
CORE_PACKAGES = (
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("transformers", "transformers"),
    ("peft", "peft"),
    ("bitsandbytes", "bitsandbytes"),
    ("open_clip_torch", "open_clip"),
    ("accelerate", "accelerate"),
)
INSTALL_FIX = '저장소 루트에서 `pip install -e ".[dev]"` 를 다시 실행하세요'


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK / WARN / FAIL
    detail: str
    fix: str = ""


def _requirements() -> dict[str, str]:
    """course_lib가 요구하는 패키지 → 버전 범위. 설치된 메타데이터, 없으면 pyproject에서 읽는다."""
    try:
        lines = importlib.metadata.requires("course_lib") or []
    except importlib.metadata.PackageNotFoundError:
        lines = []
    if not lines and (REPO_ROOT / "pyproject.toml").is_file():
        lines = load_pyproject(REPO_ROOT)["project"]["dependencies"]
    found = {}
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        found[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return found


def _in_range(version: str, spec: str) -> bool | None:
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidVersion:
        return None  # 버전 문자열이 특이함: 판단하지 않는다


def check_python() -> Check:
    version = platform.python_version()
    if sys.version_info < (3, 10):
        return Check("Python", FAIL, version, "Python 3.10 이상이 필요합니다(3.11 권장)")
    return Check("Python", OK, f"{version} ({sys.executable})")


def _import_quietly(module: str):
    # bitsandbytes는 CPU에서 import할 때 `kernels` 모듈이 없다는 무해한 경고를 남긴다(course_lib.quiet).
    quiet.install_log_filters()
    return importlib.import_module(module)


def check_package(dist: str, module: str, spec: str | None, torch_broken: bool = False) -> Check:
    """설치되어 있는지, 실제로 import 되는지(깨진 설치는 여기서 드러난다), 권장 범위 안인지."""
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return Check(dist, FAIL, "설치되지 않음", INSTALL_FIX)
    try:
        _import_quietly(module)
    except Exception as err:  # 깨진 설치는 무엇이든 던질 수 있다(ImportError, OSError, RuntimeError …): 한 줄로 알린다
        fix = INSTALL_FIX
        if torch_broken and dist != "torch":
            fix = "torch를 먼저 고치세요(이 패키지는 torch를 불러옵니다). " + INSTALL_FIX
        elif module == "open_clip":
            fix = "open_clip은 동작하는 torchvision이 필요합니다. torch와 짝이 맞는 torchvision을 설치하세요: " + INSTALL_FIX
        message = " ".join(str(err).split())[:200]
        return Check(dist, FAIL, f"{version} — import 실패: {type(err).__name__}: {message}", fix)
    if spec and _in_range(version, spec) is False:
        return Check(dist, WARN, f"{version} (권장 범위 {spec} 밖 — 동작은 보장하지 않음)")
    return Check(dist, OK, version)


# torchvision의 부 버전(minor) = torch의 부 버전 + 15 (torch 2.4 ↔ torchvision 0.19, 2.14 ↔ 0.29). PyTorch가 공개하는
# 짝 표(github.com/pytorch/vision README의 호환표)의 규칙이다. 짝이 어긋나면 torchvision의 C++ 연산이 torch와 맞지 않는다.
TORCHVISION_MINOR_OFFSET = 15


def check_torch_pair(versions: dict[str, str | None] | None = None) -> Check | None:
    """설치된 torch와 torchvision이 짝인지. 둘 중 하나가 없거나 버전을 읽을 수 없으면 None(다른 점검이 알린다)."""
    if versions is None:
        versions = {}
        for dist in ("torch", "torchvision"):
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                versions[dist] = None
    if not versions.get("torch") or not versions.get("torchvision"):
        return None
    try:
        torch_v, vision_v = Version(versions["torch"]), Version(versions["torchvision"])
    except InvalidVersion:
        return None
    if torch_v.major != 2:  # 규칙은 torch 2.x에 대해서만 안다
        return None
    expected = f"0.{torch_v.minor + TORCHVISION_MINOR_OFFSET}"
    name = "torch ↔ torchvision"
    if (vision_v.major, vision_v.minor) == (0, torch_v.minor + TORCHVISION_MINOR_OFFSET):
        return Check(name, OK, f"{torch_v.base_version} ↔ {vision_v.base_version} (짝이 맞음)")
    return Check(name, FAIL, f"torch {torch_v.base_version}의 짝은 torchvision {expected}.x인데 {vision_v.base_version}이 "
                 f"설치되어 있습니다(mismatch)",
                 f"`pip install \"torchvision=={expected}.*\"` 로 짝을 맞추거나, 저장소 루트에서 "
                 f"`pip install -e \".[dev]\"` 로 둘을 함께 다시 설치하세요")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_hardware() -> list[Check]:
    import torch  # doctor는 torch 없이 떠야 깨진 torch를 보고할 수 있다: torch는 쓰는 곳에서 부른다

    checks = [Check("CPU", OK, f"{cpu_name()}, {os.cpu_count()}코어, torch 스레드 {torch.get_num_threads()}")]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        checks.append(Check("GPU", OK, f"{props.name}, {props.total_memory / 2**30:.1f} GiB (CUDA {torch.version.cuda})"))
        bf16 = torch.cuda.is_bf16_supported()
        checks.append(Check("bf16", OK if bf16 else WARN, "GPU가 bf16을 지원함" if bf16 else "이 GPU는 bf16을 지원하지 않음(T4 등): fp16/fp32로 학습"))
    else:
        cuda_build = torch.version.cuda
        note = f"CUDA 빌드(CUDA {cuda_build})지만 GPU가 없어 CPU로 실행" if cuda_build else "CPU 전용 torch"
        checks.append(Check("GPU", OK, f"없음 — {note}. 미니 월드(mini)는 CPU로 충분합니다"))
        try:
            x = torch.ones(4, 4, dtype=torch.bfloat16)
            ok = bool(((x @ x).float() == 4).all())
        except Exception:  # 아주 오래된 CPU 빌드
            ok = False
        checks.append(Check("bf16", OK if ok else WARN, "CPU에서 bf16 행렬곱 동작" if ok else "CPU에서 bf16 연산 불가: fp32만 사용"))
    return checks


def check_assets(data_dir: str | os.PathLike | None = None) -> list[Check]:
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    results = verify_assets(root)
    fix = f"저장소 루트에서 `{REBUILD_COMMAND}` 를 실행해 {root} 의 자산을 다시 만드세요"
    checks = []
    for result in results:
        if result.ok:
            checks.append(Check(f"data/{result.path}", OK, "SHA-256 일치"))
        else:
            # 매니페스트가 없을 때의 이유에는 이미 경로와 명령이 들어 있다.
            detail = result.reason if result.path == MANIFEST_NAME else f"{root / result.path}: {result.reason}"
            checks.append(Check(f"data/{result.path}", FAIL, detail, fix))
    if not results:
        checks.append(Check("data/", WARN, f"{root / 'MANIFEST.json'} 에 파일이 하나도 없습니다"))
    return checks


def check_hangul() -> Check:
    from course_lib.plots import hangul_renders  # matplotlib은 무겁다: 이 점검을 할 때만

    ok, detail = hangul_renders()
    if ok:
        return Check("한글 글꼴", OK, f"{detail}: 그림의 한글이 빠짐없이 그려짐")
    return Check("한글 글꼴", FAIL, detail, "`pip install koreanize-matplotlib` 로 나눔고딕을 설치하세요")


def run_checks(data_dir: str | os.PathLike | None = None) -> list[Check]:
    checks = [check_python()]
    specs = _requirements()
    for dist, module in CORE_PACKAGES:
        torch_broken = any(c.name == "torch" and c.status == FAIL for c in checks)
        checks.append(check_package(dist, module, specs.get(dist.replace("_", "-")), torch_broken))
    pair = check_torch_pair()
    if pair is not None:
        checks.append(pair)
    if all(c.status != FAIL for c in checks if c.name == "torch"):
        checks.extend(check_hardware())
    checks.extend(check_assets(data_dir))
    checks.append(check_hangul())
    return checks


def format_report(checks: list[Check]) -> str:
    width = max(display_width(c.name) for c in checks)
    lines = ["강의 환경 점검(course_lib doctor)", ""]
    for c in checks:
        lines.append(f"[{c.status}] {pad(c.name, width)}  {c.detail}")
    failures = [c for c in checks if c.status == FAIL]
    lines.append("")
    if failures:
        lines.append(f"문제 {len(failures)}개 — 노트북을 실행하기 전에 고치세요:")
        for c in failures:
            lines.append(f"  - {c.name}: {c.fix or c.detail}")
    else:
        lines.append("모든 점검을 통과했습니다. 노트북을 실행할 수 있습니다.")
    return "\n".join(lines)


def main(data_dir: str | os.PathLike | None = None) -> int:
    checks = run_checks(data_dir)
    print(format_report(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


# ---------------------------------------------------------------- 프리셋의 하드웨어 요구(--preset)

def preset_report(name: str, data_dir=None, gpu_bytes: float | None = None) -> tuple[str, bool]:
    """프리셋이 필요한 메모리(조각별, 계산)와 한국어 판정. (보고서, 이 기계에서 실행 가능한지)."""
    # torch를 쓰는 모듈은 여기서 부른다: doctor는 torch가 깨진 환경에서도 떠서 그것을 알려야 한다.
    import torch
    from course_lib import presets
    from course_lib.preset_memory import GiB, REFERENCE_GPUS, estimate, verdict

    try:
        est = estimate(name, data_dir=data_dir) if name == "mini" else estimate(name)
    except Exception as err:  # mini는 data/의 설정 파일이 있어야 센다
        return f"프리셋 {name}: 메모리를 계산하지 못했습니다 — {err}", False
    a = est.assumptions
    lines = [f"프리셋 {name}: 필요한 메모리(계산, course_lib.preset_memory)"]
    if name in presets.REAL_MODELS:
        lines.append(f"  모델: {a['llm']} ({a['quantization'] or '16비트'}), 시각 {a['vision']}, 채점기 {a['scorer']}")
        lines.append(f"  전제: 마이크로 배치 {a['micro_batch']}, 시퀀스 {a['seq_len']}토큰(그림 {a['image_tokens']} + "
                     f"글 {a['text_tokens']}), 계산 {a['compute_dtype']}(bf16이 없으면 fp16, 같은 2바이트), "
                     f"LoRA r={a['lora_r']}, 체크포인팅 {'켬' if a['gradient_checkpointing'] else '끔'}")
    else:
        lines.append(f"  전제: CPU, float32, 배치 {a['micro_batch']}, 양자화 없음")
    lines += ["  " + row for row in est.table().splitlines()]
    fits = True
    if est.device == "cpu":
        try:
            total_ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            total_ram = None
        if total_ram:
            fits = est.total <= total_ram
            lines.append("판정: " + verdict(est, total_ram, "이 컴퓨터의 RAM"))
        return "\n".join(lines), fits
    if gpu_bytes is None and torch.cuda.is_available():
        gpu_bytes = torch.cuda.get_device_properties(0).total_memory
        gpu_name = torch.cuda.get_device_name(0)
    else:
        gpu_name = "주어진 GPU"
    if gpu_bytes is not None:
        fits = est.total <= gpu_bytes
        lines.append("판정: " + verdict(est, gpu_bytes, f"이 GPU({gpu_name})" if gpu_name != "주어진 GPU" else "이 GPU"))
    else:
        lines.append("판정: 이 컴퓨터에는 GPU가 없어 이 프리셋을 실행할 수 없습니다. 참고로 GPU별 판정:")
        fits = False
    lines += [f"  - {verdict(est, nbytes, gpu)}" for gpu, nbytes in REFERENCE_GPUS]
    lines.append(f"  (여러 GPU(DDP)에서는 GPU마다 마이크로 배치 = 배치 / GPU 수로 계산하세요; "
                 f"CUDA 문맥 {est.pieces['cuda_context'] / GiB:.1f} GiB는 가정값)")
    return "\n".join(lines), fits


def preset_main(name: str, data_dir=None, gpu_gib: float | None = None) -> int:
    try:
        import torch  # preset_report와 같은 이유로 여기서(깨진 torch는 아래에서 한 줄로 알린다)
    except Exception as err:  # 깨진 torch는 무엇이든 던질 수 있다
        specs = _requirements()
        check = check_package("torch", "torch", specs.get("torch"))
        if check.status != FAIL:  # 이미 불러온 뒤 다른 이유로 실패: 그 이유를 보인다
            check = Check("torch", FAIL, f"import 실패: {type(err).__name__}: {err}", INSTALL_FIX)
        print(format_report([check]))
        return 1
    report, fits = preset_report(name, data_dir, None if gpu_gib is None else gpu_gib * 2**30)
    print(report)
    # GPU가 있는데 모자랄 때만 실패(1). GPU가 없으면 안내만 하고 0.
    return 1 if not fits and (gpu_gib is not None or torch.cuda.is_available() or name == "mini") else 0
