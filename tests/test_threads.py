"""스레드 정책(course_lib.threads): torch보다 먼저 환경 변수를 넣고, 사용자의 값과 끄기를 존중한다."""
import os
import subprocess
import sys

from course_lib import threads


def _python(code: str, **env) -> str:
    """새 파이썬 프로세스(정책 변수가 없는 환경 + env)에서 code를 실행하고 표준 출력을 돌려준다."""
    full = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", threads.OPT_OUT_VAR)}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_import_course_lib_sets_the_policy_before_torch():
    out = _python("import os, sys, course_lib; print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)")
    assert out.startswith(f"{threads.POLICY_ENV['GOMP_SPINCOUNT']} False")


def test_user_value_and_opt_out_win():
    assert _python("import os, course_lib; print(os.environ['GOMP_SPINCOUNT'])", GOMP_SPINCOUNT="300000") \
        .startswith("300000")
    assert _python("import os, course_lib; print(os.environ.get('GOMP_SPINCOUNT'))",
                   **{threads.OPT_OUT_VAR: "off"}).startswith("None")


def test_too_late_after_torch_warns():
    """torch를 먼저 import한 뒤 course_lib를 부르면 정책이 늦었다고 알려 준다(꺼져 있으면 조용하다)."""
    code = ("import warnings, torch\nwith warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n    import course_lib\n"
            "print(sum('torch' in str(w.message) for w in caught if w.category is RuntimeWarning))")
    assert _python(code).strip() == "1"
    assert _python(code, **{threads.OPT_OUT_VAR: "off"}).strip() == "0"


def test_describe_policy_names_the_variable():
    assert "GOMP_SPINCOUNT" in threads.describe_policy()
