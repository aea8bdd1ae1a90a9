"""NF4 양자화(quantization)를 바닥부터: 코드북, 블록 단위 absmax, 이중 양자화(모델 전체의 메모리 산수는 `weight_memory`).

QLoRA(Dettmers et al., 2023)의 NF4(NormalFloat4)를 bitsandbytes와 **비트 단위로 같게** 다시 만든다.
테스트(`tests/test_quant.py`)가 `bitsandbytes.functional.quantize_4bit` / `dequantize_4bit`과
결과를 바이트 하나까지 비교한다.

흐름은 세 단계다.

1. 코드북(codebook): 표준정규분포의 분위수(quantile)로 16개 값을 만든다(`nf4_codebook`).
2. 블록 단위 absmax 양자화: 64개씩 묶어 블록의 절댓값 최댓값(absmax)으로 나눠 [-1, 1]로 맞추고,
   가장 가까운 코드의 번호(4비트)를 고른 뒤 바이트 하나에 두 개씩 담는다(packing).
3. 이중 양자화(double quantization): 블록마다 하나씩 생기는 float32 absmax를 다시 8비트로 줄인다
   (평균을 빼고 256개씩 블록 단위로, bitsandbytes의 동적 8비트 맵(dynamic map)으로).

bitsandbytes 0.50 CPU 경로에서 읽은 그대로 따라 한 세부 사항(테스트가 지킨다):

- 4비트 양자화는 `backends/default/ops.py`의 파이썬 구현을 쓴다. 가장 가까운 코드는 이웃한 코드의
  중간점(midpoint)에 대한 `torch.bucketize(right=False)`로 고르므로, 정확히 중간점에 놓인 값은
  **아래쪽** 코드로 간다. 꽉 찬 블록은 `x * (1/absmax)`, 마지막 자투리 블록은 `x / absmax`로
  나눈다(둘은 마지막 비트가 다를 수 있다).
- 8비트(이중 양자화) 쪽은 C 커널이다. 가장 가까운 코드를 곧바로 찾지 않고 [-1, 1]을 65,536칸으로
  나눈 조회표(LUT)를 거친다. 그래서 "정확히 가장 가까운 코드"와 드물게 다르다(조회표 한 칸의 폭이 0 근처의
  촘촘한 코드 간격보다 넓어, 그곳에서는 몇 칸까지; 노트북 05가 센다). `dynamic_map_index`가 이 조회표를 그대로 만든다.
- 모두 0인 블록: 4비트는 absmax를 0으로 저장하고 코드 7(값 0)을, 8비트는 코드 0을 쓴다.
  어느 쪽이든 복원값은 0이다.

CUDA의 bitsandbytes는 같은 규칙을 다른 커널로 계산해 아주 드물게 다르다(H200에서 한 번 잰 값:
4096×4096 float32에서 4비트 코드 1개가 한 칸, 이중 양자화의 8비트 absmax 코드가 약 0.2%).
여기서 "같다"는 CPU 구현과 비트까지 같다는 뜻이다.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

# QLoRA 논문과 bitsandbytes `create_normal_map`이 쓰는 가장 바깥 분위수.
NF4_OFFSET = 0.9677083
NF4_BLOCKSIZE = 64
ABSMAX_BLOCKSIZE = 256  # 이중 양자화에서 absmax를 묶는 블록 크기
_LUT_SIZE = 65536  # bitsandbytes CPU 8비트 양자화가 쓰는 조회표 칸 수


# ---------------------------------------------------------------------------
# 코드북
# ---------------------------------------------------------------------------
def nf4_codebook_from_quantiles(offset: float = NF4_OFFSET, float64_grid: bool = False) -> torch.Tensor:
    """정규분포 분위수로 NF4의 16개 값을 만든다(QLoRA 논문의 구성).

    양수 쪽은 확률 offset부터 0.5까지 9칸(마지막 0.5는 0이라 버림) → 8개,
    음수 쪽은 8칸 → 7개, 그리고 정확한 0. 합쳐서 정렬한 뒤 가장 큰 값으로 나눠 [-1, 1]에 맞춘다.
    양수가 하나 더 많은 비대칭 모양이라 0을 정확히 표현하면서도 16칸을 모두 쓴다.

    bitsandbytes는 격자(linspace)를 float32로 만들고, 역누적분포(ppf)는 float64로 구한 뒤 float32로
    저장해 float32에서 나눈다. 기본값(`float64_grid=False`)은 이 순서를 그대로 따라 bitsandbytes의
    표와 비트까지 같다. `float64_grid=True`로 처음부터 float64로 계산하면 몇 값이 1e-7 안팎으로
    달라진다(노트북에서 보여 줄 비교).
    """
    grid_dtype = torch.float64 if float64_grid else torch.float32
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=grid_dtype)[:-1].double())
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=grid_dtype)[:-1].double())
    values = torch.cat([positive, torch.zeros(1, dtype=torch.float64), negative])
    if not float64_grid:
        values = values.float()
    values = values.sort().values
    return (values / values.max()).float()


def nf4_codebook() -> torch.Tensor:
    """양자화에 쓰는 NF4 코드북(16개, 오름차순, float32). 4비트 코드 k의 값이 `nf4_codebook()[k]`."""
    return nf4_codebook_from_quantiles()


def fp4_codebook() -> torch.Tensor:
    """bitsandbytes의 FP4(부호 1 + 지수 2 + 가수 1비트), 4비트 코드 순서대로 16개 값.

    코드의 아래 3비트가 지수 e와 가수 m이다. e=0은 비정규수(subnormal) m·2⁻⁴,
    e≥1은 (1 + m/2)·2^(4−e). 가장 큰 값 12로 나눠 [-1, 1]에 맞춘다. 맨 위 비트가 부호.
    (OCP 표준 E2M1 {0, 0.5, 1, …, 6}과는 지수 배치가 다르다. bitsandbytes와 같게 둔다.)
    """
    magnitudes = []
    for code in range(8):
        exponent, mantissa = code >> 1, code & 1
        if exponent == 0:
            magnitudes.append(mantissa * 2.0**-4)
        else:
            magnitudes.append((1 + mantissa / 2) * 2.0 ** (4 - exponent))
    values = torch.tensor(magnitudes + [-m for m in magnitudes], dtype=torch.float32)
    return values / values.abs().max()


def int4_codebook() -> torch.Tensor:
    """균일(uniform) 대칭 int4: 코드 k의 값은 (k − 8)/7. absmax가 ±1에 오므로 −8/7은 쓰이지 않는다."""
    return (torch.arange(16, dtype=torch.float32) - 8) / 7


def dynamic_8bit_map(signed: bool = True, max_exponent_bits: int = 7, total_bits: int = 8) -> torch.Tensor:
    """bitsandbytes의 동적 8비트 맵(`create_dynamic_map`)을 다시 만든다: 256개, 오름차순.

    지수가 10⁻⁶부터 10⁰까지 커질수록 가수 칸이 두 배로 늘어나는 구조라, 0 근처는 촘촘하고
    큰 값은 성기다. 이중 양자화가 absmax − 평균을 담는 데 쓴다.
    """
    non_sign_bits = total_bits - 1
    data: list[float] = []
    for i in range(max_exponent_bits):
        items = 2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed else \
            2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1
        edges = torch.linspace(0.1, 1, int(items), dtype=torch.float32)
        means = (edges[:-1] + edges[1:]) / 2.0
        scale = 10 ** (-(max_exponent_bits - 1) + i)
        data += (scale * means).tolist()
        if signed:
            data += (-scale * means).tolist()
    data += [0.0, 1.0]
    data += [0.0] * (2**total_bits - len(data))
    return torch.tensor(sorted(data), dtype=torch.float32)


# ---------------------------------------------------------------------------
# 블록 단위 양자화의 부품
# ---------------------------------------------------------------------------
def blockwise_absmax_scale(x: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x를 펴서 blocksize개씩 묶고, 블록마다 absmax로 나눠 [-1, 1]에 맞춘다.

    반환: (scaled: 1차원 float32, absmax: 블록 수만큼의 float32).
    bitsandbytes와 같게, 꽉 찬 블록은 역수를 곱하고(0으로 나누지 않게 1e-38로 하한) 자투리 블록은 나눈다.
    """
    flat = x.reshape(-1).float()
    n = flat.numel()
    full = n - n % blocksize
    blocks = flat[:full].reshape(-1, blocksize)
    absmax = blocks.abs().max(dim=-1)[0]
    scaled = torch.clamp(blocks * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if full < n:
        tail_max = flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, tail_max.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(flat[full:] / tail_max, -1, 1)])
    return scaled, absmax


def nearest_code(scaled: torch.Tensor, sorted_codebook: torch.Tensor) -> torch.Tensor:
    """가장 가까운 코드의 번호. 이웃 코드의 중간점과 비교하며, 중간점과 같으면 아래 코드를 고른다."""
    midpoints = (sorted_codebook[:-1] + sorted_codebook[1:]) / 2
    return torch.bucketize(scaled, midpoints, out_int32=True)


def pack_nibbles(codes: torch.Tensor) -> torch.Tensor:
    """4비트 코드 두 개를 바이트 하나에: 짝수 번째가 위 니블(high nibble), 홀수 번째가 아래 니블.

    bitsandbytes처럼 `[(n + 1) // 2, 1]` 모양의 uint8로 돌려준다. 개수가 홀수면 호출하는 쪽이 미리 채운다.
    """
    codes = codes.to(torch.uint8)
    return ((codes[::2] << 4) | codes[1::2]).unsqueeze(1)


def unpack_nibbles(packed: torch.Tensor, n: int) -> torch.Tensor:
    """`pack_nibbles`의 반대: 앞에서부터 n개의 코드(int64)."""
    flat = packed.reshape(-1)
    codes = torch.stack([flat >> 4, flat & 0xF], dim=1).reshape(-1)
    return codes[:n].long()


def dynamic_map_index(scaled: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """bitsandbytes CPU 8비트 양자화의 코드 선택: [-1, 1]을 65,536칸 조회표(LUT)로 거친다.

    조회표의 칸 i는 값 −1 + 2i/65535를 대표하고, 그 값보다 작은 중간점의 개수가 코드 번호다.
    입력은 ((v + 1)·0.5·65535 + 0.5)를 버림해 칸을 찾는다(모두 float32 연산).
    """
    midpoints = 0.5 * (code[:-1] + code[1:])
    grid = -1.0 + (2.0 * torch.arange(_LUT_SIZE, dtype=torch.float32)) / (_LUT_SIZE - 1)
    lut = torch.searchsorted(midpoints, grid, side="left").to(torch.uint8)
    position = ((scaled + 1.0) * 0.5 * (_LUT_SIZE - 1) + 0.5).to(torch.int64)
    return lut[position]


def quantize_blockwise_8bit(x: torch.Tensor, code: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """1차원 float32를 8비트 코드로(bitsandbytes CPU `quantize_blockwise`와 같게). 반환: (uint8 코드, absmax)."""
    flat = x.reshape(-1).float()
    n = flat.numel()
    pad = (-n) % blocksize
    blocks = torch.nn.functional.pad(flat, (0, pad)).reshape(-1, blocksize)
    absmax = blocks.abs().max(dim=-1)[0]
    inverse = torch.where(absmax > 0, 1.0 / absmax, torch.zeros_like(absmax))
    scaled = torch.clamp(blocks * inverse.view(-1, 1), -1, 1)
    codes = dynamic_map_index(scaled, code)
    codes[absmax == 0] = 0  # 모두 0인 블록은 C 커널이 코드 0으로 채운다
    return codes.reshape(-1)[:n], absmax


def dequantize_blockwise_8bit(codes: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor,
                              blocksize: int) -> torch.Tensor:
    """`quantize_blockwise_8bit`의 복원: code[k] × 블록 absmax (float32)."""
    return _scale_blocks(code[codes.long()], absmax, blocksize)


# ---------------------------------------------------------------------------
# 4비트 양자화: 공개 API
# ---------------------------------------------------------------------------
@dataclass
class Quantized4bit:
    """4비트로 양자화된 텐서 하나. 복원(dequantize)에 필요한 것을 모두 담는다.

    - packed: uint8 `[(n+1)//2, 1]`, 바이트 하나에 코드 두 개.
    - absmax: 이중 양자화가 없으면 블록마다 float32 하나, 있으면 uint8 코드 하나.
    - absmax_offset / absmax_scale / absmax_code: 이중 양자화의 2단계 상태
      (빼 둔 평균, 256블록마다의 float32 absmax, 동적 8비트 맵). 없으면 None.
    - codebook: 4비트 코드 순서의 16개 값(모든 텐서가 공유하는 상수라 용량 계산에서 뺀다).
    """

    packed: torch.Tensor
    absmax: torch.Tensor
    shape: torch.Size
    dtype: torch.dtype
    blocksize: int
    quant_type: str
    codebook: torch.Tensor
    absmax_offset: Optional[torch.Tensor] = None
    absmax_scale: Optional[torch.Tensor] = None
    absmax_code: Optional[torch.Tensor] = None
    absmax_blocksize: int = ABSMAX_BLOCKSIZE

    @property
    def double_quant(self) -> bool:
        return self.absmax_offset is not None

    def storage_tensors(self) -> list[torch.Tensor]:
        """이 텐서만을 위해 저장하는 것들(공유 상수인 코드북 제외)."""
        extra = [self.absmax_offset, self.absmax_scale] if self.double_quant else []
        return [self.packed, self.absmax, *extra]


def _codebook_for(quant_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(코드 순서의 코드북, 정렬된 번호 → 코드 번호 대응)."""
    builders = {"nf4": nf4_codebook, "fp4": fp4_codebook, "int4": int4_codebook}
    if quant_type not in builders:
        raise ValueError(f"quant_type은 {sorted(builders)} 중 하나여야 합니다 (quant_type={quant_type!r}).")
    codebook = builders[quant_type]()
    return codebook, torch.argsort(codebook)  # bitsandbytes와 같은 호출(0과 -0의 순서까지 같게)


def _compress_absmax(absmax: torch.Tensor) -> dict:
    """이중 양자화: absmax에서 평균을 빼고 256개씩 동적 8비트 맵으로 양자화한다."""
    offset = absmax.mean()
    code = dynamic_8bit_map()
    codes, scale = quantize_blockwise_8bit(absmax - offset, code, ABSMAX_BLOCKSIZE)
    return {"absmax": codes, "absmax_offset": offset, "absmax_scale": scale, "absmax_code": code}


def quantize_4bit(x: torch.Tensor, quant_type: str = "nf4", blocksize: int = NF4_BLOCKSIZE,
                  double_quant: bool = True) -> Quantized4bit:
    """블록 단위 absmax 4비트 양자화(nf4 / fp4 / int4). nf4·fp4는 bitsandbytes와 비트까지 같다."""
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"float32/bfloat16/float16 텐서만 양자화합니다 (dtype={x.dtype}).")
    if blocksize <= 0 or blocksize % 2:
        raise ValueError(f"blocksize는 양의 짝수여야 합니다 (blocksize={blocksize}).")
    codebook, order = _codebook_for(quant_type)
    scaled, absmax = blockwise_absmax_scale(x, blocksize)
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1))  # 마지막 바이트의 빈 니블은 값 0의 코드
    codes = nearest_code(scaled, codebook[order])
    if not torch.equal(order, torch.arange(16)):  # NF4·int4는 코드북이 이미 정렬돼 있어 건너뛴다
        codes = order[codes.long()]
    state = _compress_absmax(absmax) if double_quant else {"absmax": absmax}
    return Quantized4bit(packed=pack_nibbles(codes), shape=x.shape, dtype=x.dtype, blocksize=blocksize,
                         quant_type=quant_type, codebook=codebook, **state)


def quantize_nf4(x: torch.Tensor, blocksize: int = NF4_BLOCKSIZE, double_quant: bool = True) -> Quantized4bit:
    """NF4 양자화. `bitsandbytes.functional.quantize_4bit(x, quant_type="nf4", blocksize=64,
    compress_statistics=double_quant)`과 같은 코드와 absmax를 만든다."""
    return quantize_4bit(x, "nf4", blocksize, double_quant)


def quantize_fp4(x: torch.Tensor, blocksize: int = NF4_BLOCKSIZE, double_quant: bool = False) -> Quantized4bit:
    """FP4 양자화(오차 비교용). bitsandbytes `quant_type="fp4"`와 같은 코드를 만든다."""
    return quantize_4bit(x, "fp4", blocksize, double_quant)


def quantize_int4(x: torch.Tensor, blocksize: int = NF4_BLOCKSIZE, double_quant: bool = False) -> Quantized4bit:
    """균일 int4 양자화(오차 비교용): 블록 absmax를 7칸으로 나눈 등간격 격자."""
    return quantize_4bit(x, "int4", blocksize, double_quant)


def block_absmax(q: Quantized4bit) -> torch.Tensor:
    """블록마다의 absmax(float32). 이중 양자화된 경우 8비트에서 복원하고 평균을 다시 더한다."""
    if not q.double_quant:
        return q.absmax
    restored = dequantize_blockwise_8bit(q.absmax, q.absmax_scale, q.absmax_code, q.absmax_blocksize)
    return restored + q.absmax_offset


def byte_value_table(codebook: torch.Tensor) -> torch.Tensor:
    """바이트 하나(0–255)가 담은 코드 두 개의 값: `[256, 2]`, 행 b = (codebook[b >> 4], codebook[b & 0xF]).

    복원할 때 니블을 풀어 코드마다 값을 찾는 대신, 바이트마다 이 표의 한 행을 가져온다(찾는 횟수가 절반이고
    니블을 떼는 연산과 중간 텐서가 없다). 값은 `codebook[unpack_nibbles(...)]`와 비트까지 같다(같은 float32 값을 복사할 뿐).
    """
    return torch.stack([codebook.repeat_interleave(16), codebook.repeat(16)], dim=1)


def pair_value_table(codebook: torch.Tensor) -> torch.Tensor:
    """바이트 두 개(코드 네 개)의 값을 한 번에: `[65536, 4]` float32, 행 번호는 그 두 바이트를 16비트 수로 읽은 값.

    `byte_value_table`을 한 번 더 묶은 것이다. 행 k는 메모리에서 16비트 수 k로 읽히는 바이트 쌍 (b0, b1)의
    값 (b0의 두 코드, b1의 두 코드)이다. 바이트 쌍을 이 기계에서 실제로 16비트로 읽어 번호를 정하므로 바이트 순서
    (little/big endian)와 상관없이 맞다. 표는 1 MiB라 CPU 캐시에 들어간다.
    """
    every_pair = torch.cartesian_prod(torch.arange(256), torch.arange(256)).to(torch.uint8)  # [65536, 2]: (b0, b1)
    rows = byte_value_table(codebook)[every_pair.long()].reshape(-1, 4)  # (b0의 값 둘, b1의 값 둘)
    table = torch.empty_like(rows)
    table[every_pair.view(torch.uint16).reshape(-1).long()] = rows
    return table


_PAIR_TABLES: dict[tuple, torch.Tensor] = {}


def _pair_table_for(codebook: torch.Tensor) -> torch.Tensor:
    """`pair_value_table`을 코드북마다 한 번만 만든다(만드는 데 약 1 ms: 작은 텐서를 복원할 때는 복원보다 오래 걸린다).
    코드북은 16개 값의 상수(nf4, fp4, int4)라 그 비트를 열쇠로 쓴다(값으로 비교하면 0과 -0이 같아진다)."""
    key = (codebook.dtype, tuple(codebook.contiguous().view(torch.uint8).tolist()))
    if key not in _PAIR_TABLES:
        if len(_PAIR_TABLES) >= 8:  # 코드북을 마구 바꿔 부르는 실험(연습문제 05.3)에서도 표가 1 MiB씩 쌓이지 않게
            _PAIR_TABLES.pop(next(iter(_PAIR_TABLES)))
        _PAIR_TABLES[key] = pair_value_table(codebook)
    return _PAIR_TABLES[key]


def dequantize_4bit(q: Quantized4bit) -> torch.Tensor:
    """복원: 코드북[코드] × 블록 absmax를 float32로 계산한 뒤 원래 dtype으로 바꾼다."""
    n = math.prod(q.shape)
    # 니블마다 코드북을 찾는 대신 바이트 두 개(코드 네 개)마다 표의 한 행을 가져온다: 찾는 횟수가 코드 수의 1/4이다.
    # 행(float32 네 개 = 16바이트)을 int64 두 개로 보고 `index_select`로 복사한다. 정수로 비트를 옮기기만 하므로
    # 값은 `codebook[unpack_nibbles(...)]`와 비트까지 같다. 바이트가 홀수 개면 빈 바이트 하나를 덧붙였다가 잘라 낸다.
    codes = q.packed.reshape(-1)
    if codes.numel() % 2 or codes.storage_offset() % 2:  # 16비트로 읽으려면 짝수 개, 짝수 위치에서 시작해야 한다
        codes = torch.cat([codes, codes.new_zeros(codes.numel() % 2)])
    table = _pair_table_for(q.codebook).view(torch.int64)
    values = table.index_select(0, codes.view(torch.uint16).int()).view(torch.float32).reshape(-1)[:n]
    return _scale_blocks(values, block_absmax(q), q.blocksize).to(q.dtype).reshape(q.shape)


def _scale_blocks(values: torch.Tensor, absmax: torch.Tensor, blocksize: int) -> torch.Tensor:
    """1차원 값에 블록마다의 absmax를 곱한다(꽉 찬 블록은 한꺼번에, 자투리 블록은 따로).
    `values`는 방금 만든 텐서라 그 자리에서 곱한다(복원값 크기의 텐서를 하나 덜 만든다)."""
    full = values.numel() - values.numel() % blocksize
    blocks = full // blocksize
    values[:full].view(blocks, blocksize).mul_(absmax[:blocks].view(-1, 1))
    values[full:].mul_(absmax[blocks:])
    return values


def dequantize_nf4(q: Quantized4bit) -> torch.Tensor:
    """NF4 복원. `bitsandbytes.functional.dequantize_4bit`과 비트까지 같다."""
    if q.quant_type != "nf4":
        raise ValueError(f"NF4가 아닌 {q.quant_type!r} 텐서입니다. dequantize_4bit를 쓰세요.")
    return dequantize_4bit(q)


def bits_per_parameter(q: Quantized4bit) -> float:
    """실제로 저장한 텐서들의 바이트로 잰 파라미터당 비트 수(공유 상수인 코드북은 뺀다)."""
    stored_bytes = sum(t.numel() * t.element_size() for t in q.storage_tensors())
    return 8 * stored_bytes / math.prod(q.shape)
