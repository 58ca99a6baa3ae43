#!/usr/bin/python3
"""Exports a sluice model directory (config.json + model.safetensors) to ONNX
with torch.onnx.export, through the same PyTorch module as
tools/reference_forward.py: inputs input_ids and attention_mask (int64,
[batch, seq], both dynamic), output logits [batch, num_labels]. Used by the
encoder benchmark to run ONNX Runtime on exactly the weights sluice runs.

  /usr/bin/python3 tools/export_onnx.py --model DIR --out DIR/model.onnx
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forward import Reference  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=14)
    args = ap.parse_args()
    ref = Reference(args.model).eval()
    ids = torch.full((2, 8), 5, dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            ref, (ids, mask), args.out,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"},
                          "logits": {0: "batch"}},
            opset_version=args.opset, do_constant_folding=True)


if __name__ == "__main__":
    main()
