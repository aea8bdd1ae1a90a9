"""선형 탐침(linear probe): 얼어 있는 시각 인코더의 패치 토큰만으로 도형의 모양을 가를 수 있는가.

    python bench/probe_shapes.py                 # 학습 장면 4000개로 탐침을 학습, test 장면 1000개로 잼

본 작업이 틀리는 것은 거의 작은 도형의 모양이다(노트북 06). 그 한계가 인코더에 있는지(패치 토큰에 모양 정보가 없음),
그 아래(프로젝터·LLM이 읽는 법, 레시피)에 있는지 가른다. 도형마다 그 도형이 든 칸(48×48 그림의 24×24 사분면 = 12×12 패치
2×2개)의 패치 토큰 4개를 이어 붙여 특징으로 쓰고, 모양 4가지를 가르는 로지스틱 회귀(선형층 하나)를 학습 장면에서 학습해
test 장면에서 잰다. 크기(작은/큰)별로 따로 보고한다. 결과는 `bench/results/probe_shapes.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import course_lib  # noqa: E402,F401  torch보다 먼저(스레드 정책)
import torch  # noqa: E402

from course_lib import world  # noqa: E402
from course_lib.models import pretrained  # noqa: E402

RESULTS = REPO / "bench" / "results" / "probe_shapes.json"


@torch.no_grad()
def object_features(encoder, scenes):
    """도형마다 (그 칸의 패치 토큰 4개를 이어 붙인 특징, 모양 번호, 크기)."""
    grid = int(encoder.num_patches ** 0.5)  # 4: 패치는 행 우선(위 왼쪽부터)
    half = grid // 2
    feats, shapes, sizes = [], [], []
    for start in range(0, len(scenes), 250):
        batch = scenes[start:start + 250]
        tokens = encoder(world.render_batch(batch))  # [B, 패치, 폭]
        for scene, image_tokens in zip(batch, tokens):
            patches = image_tokens.reshape(grid, grid, -1)
            for obj in scene.objects:
                index = world.POSITIONS.index(obj.position)  # 왼쪽 위, 오른쪽 위, 왼쪽 아래, 오른쪽 아래
                row, col = divmod(index, 2)
                cell = patches[row * half:(row + 1) * half, col * half:(col + 1) * half]
                feats.append(cell.reshape(-1))
                shapes.append(world.SHAPES.index(obj.shape))
                sizes.append(obj.size)
    return torch.stack(feats), torch.tensor(shapes), sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    start = time.perf_counter()
    encoder = pretrained.load_parts().vision_encoder().eval()
    x_train, y_train, _ = object_features(encoder, world.make_scenes("train", args.n_train, seed=0))
    x_test, y_test, size_test = object_features(encoder, world.make_scenes("test", args.n_test, seed=0))
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    probe = torch.nn.Linear(x_train.shape[1], len(world.SHAPES))
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=args.steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(x_train), y_train) + 1e-4 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        right = probe(x_test).argmax(1) == y_test
    by_size = {size: float(right[[s == size for s in size_test]].float().mean()) for size in world.SIZES}
    result = {"command": "python bench/probe_shapes.py", "date": time.strftime("%Y-%m-%d"),
              "n_train_scenes": args.n_train, "n_test_scenes": args.n_test,
              "n_train_objects": len(y_train), "n_test_objects": len(y_test), "feature_width": x_train.shape[1],
              "test_accuracy": float(right.float().mean()), "test_accuracy_by_size": by_size,
              "chance": 1 / len(world.SHAPES), "seconds": round(time.perf_counter() - start, 1)}
    print(f"선형 탐침(패치 토큰 4개 → 모양 {len(world.SHAPES)}가지), test 도형 {len(y_test)}개: 정확도 "
          f"{result['test_accuracy']:.4f} | " + ", ".join(f"{s} {a:.4f}" for s, a in by_size.items())
          + f" (우연 {result['chance']:.2f})")
    if not args.no_save:
        RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
