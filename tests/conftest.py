"""공용 준비물(fixture): `data/`에 실린 부품을 한 번만 불러 여러 테스트가 나눠 쓴다."""
import course_lib  # noqa: F401  torch보다 먼저: 스레드 정책(course_lib.threads)이 이 프로세스와 노트북 커널에 들어간다
import pytest
import torch


@pytest.fixture(scope="session")
def parts():
    from course_lib.models.pretrained import load_parts

    return load_parts()


@pytest.fixture(scope="session")
def tokenizer(parts):
    return parts.tokenizer


@pytest.fixture
def fresh_llm():
    """테스트마다 새로 불러온 작은 Qwen3(한 테스트가 바꾼 가중치가 다른 테스트에 새지 않게)."""
    from course_lib.models.pretrained import load_llm

    torch.manual_seed(0)
    return load_llm()
