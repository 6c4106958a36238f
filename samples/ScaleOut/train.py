#!/usr/bin/env python3
"""Continue training an MLNet.MoE model with distributed PyTorch: FSDP or DDP through Hugging Face Accelerate.

Reads a Hugging Face DeepseekV3 checkpoint and a token file, both written by MLNet.MoE
(`mlContext.MoE().SaveHuggingFace` and `mlContext.MoE().ExportTokens`), trains `DeepseekV3ForCausalLM` on the packed
token stream in bfloat16 mixed precision on every GPU of the launch, and saves a checkpoint that
`mlContext.MoE().LoadHuggingFace` reads back, with the tokenizer files copied beside it. Rank 0 also writes:
  - reference_logits.json: float32 logits of the saved model for two windows of the validation stream, computed by a
    fresh `from_pretrained` load, for the import check on the .NET side;
  - scale_out_run.json: the run's figures (validation loss before/after in float32, tokens/s, expert load).

  accelerate launch --num_processes 2 samples/ScaleOut/train.py --checkpoint artifacts/scaleout/checkpoint \
      --tokens artifacts/scaleout/tokens --output artifacts/scaleout/trained --strategy fsdp
  (one GPU: accelerate launch --num_processes 1 ...; several nodes: see docs/scale-out.md)

Routing: Hugging Face's model routes with `e_score_correction_bias` but never updates it. This script applies
DeepSeek-V3's auxiliary-loss-free update after every optimizer step (b_i += speed * sign(mean_load - load_i), loads
summed over all ranks), as MLNet.MoE's own trainer does, so the balance carries on across the move.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from transformers import DeepseekV3ForCausalLM

TOKEN_FORMAT = "mlnet-moe-tokens"
TOKENIZER_FILES = ("mlnet_moe_tokenizer.bin", "tokenizer.json", "tokenizer_config.json")
IGNORE = -100


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint folder written by MLNet.MoE")
    p.add_argument("--tokens", required=True, help="token file folder written by MLNet.MoE (tokens.json + *.bin)")
    p.add_argument("--output", required=True, help="folder for the trained checkpoint")
    p.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16, help="sequences per process per micro-step")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--bias-update-speed", type=float, default=0.001, help="gamma of the routing-bias update; 0 keeps the biases")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--find-unused-parameters", action="store_true",
                   help="DDP: allow parameters without gradients in a step (not needed for transformers' fused experts)")
    p.add_argument("--reference-len", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.seq_len < 2 or args.grad_accum < 1:
        p.error("--steps, --batch-size and --grad-accum must be at least 1, --seq-len at least 2")
    return args


def read_tokens(folder):
    """The header and the train/validation streams (memory-mapped) of an MLNet.MoE token store (docs/token-store.md).

    Version 2 (what ExportTokens writes) adds per-split document indexes (`*.idx`, int64 starts) and chunk checksums;
    version 1 folders (no index) are still read. Streams are np.memmap views: nothing is copied into memory, so a store
    larger than RAM trains the same way."""
    path = os.path.join(folder, "tokens.json")
    if not os.path.exists(path):
        sys.exit(f"{folder}: no tokens.json; write the folder with mlContext.MoE().ExportTokens")
    with open(path) as f:
        header = json.load(f)
    if header.get("format") != TOKEN_FORMAT or header.get("version") not in (1, 2):
        sys.exit(f"{path}: not an MLNet.MoE token file header (format {header.get('format')!r}, version {header.get('version')!r})")
    dtype = {"uint16": "<u2", "uint32": "<u4"}.get(header.get("dtype"))
    if dtype is None:
        sys.exit(f"{path}: dtype {header.get('dtype')!r} is neither uint16 nor uint32")

    def memmap(file, dtype, count):
        if count == 0:
            return np.zeros(0, dtype=dtype)
        expected = count * np.dtype(dtype).itemsize
        if not os.path.exists(file) or os.path.getsize(file) != expected:
            sys.exit(f"{file}: {os.path.getsize(file) if os.path.exists(file) else 'missing'} bytes, but tokens.json says {count} ids ({expected} bytes)")
        return np.memmap(file, dtype=dtype, mode="r", shape=(count,))

    def split(name):
        s = header["splits"][name]
        data = memmap(os.path.join(folder, s["file"]), dtype, s["tokens"])
        if header["version"] >= 2:
            starts = memmap(os.path.join(folder, s["index"]), "<i8", s["documents"])
            if s["documents"] and (starts[0] != 0 or data[0] != header["eos_token_id"]):
                sys.exit(f"{os.path.join(folder, s['index'])}: the first document does not start with eos_token_id at 0")
        return data

    return header, split("train"), split("validation")


def evaluation_windows(stream, seq_len):
    """Consecutive windows of the stream, as MLNet.MoE's StreamEvaluator scores it: inputs stream[s:s+n], targets
    stream[s+1:s+n+1], s = 0, seq_len, 2*seq_len, ..., the last window shorter; padded targets are ignored."""
    starts = list(range(0, len(stream) - 1, seq_len))
    x = np.zeros((len(starts), seq_len), dtype=np.int64)
    y = np.full((len(starts), seq_len), IGNORE, dtype=np.int64)
    for i, s in enumerate(starts):
        n = min(seq_len, len(stream) - 1 - s)
        x[i, :n] = stream[s:s + n]
        y[i, :n] = stream[s + 1:s + n + 1]
    return torch.from_numpy(x), torch.from_numpy(y)


class RoutingBalancer:
    """Counts the experts each MoE layer's router picks during training steps and, after each optimizer step, moves
    `e_score_correction_bias` by speed * sign(mean load - load), with the loads summed over every process."""

    def __init__(self, model, config, speed, device):
        self.config, self.speed, self.enabled = config, speed, True
        self.routers = [m for m in model.modules() if hasattr(m, "e_score_correction_bias")]
        self.counts = torch.zeros(len(self.routers), config.n_routed_experts, device=device)
        self.source = None
        for i, router in enumerate(self.routers):
            router.register_forward_hook(self._hook(i))

    def _hook(self, layer):
        def hook(module, inputs, output):
            if self.enabled and module.training:
                with torch.no_grad():
                    chosen = self._chosen_experts(module, output)
                    self.counts[layer] += torch.bincount(chosen.reshape(-1), minlength=self.config.n_routed_experts).to(self.counts)
        return hook

    def _chosen_experts(self, router, output):
        cfg = self.config
        if isinstance(output, (tuple, list)):  # routers that return (indices, weights)
            for t in output:
                if torch.is_tensor(t) and not t.is_floating_point():
                    self.source = "router indices"
                    return t
            output = output[0]
        if output.shape[-1] != cfg.n_routed_experts:
            raise RuntimeError(f"the router returned shape {tuple(output.shape)}; expected router logits over {cfg.n_routed_experts} experts")
        # Router logits: the selection of DeepSeek-V3 (sigmoid, plus the bias, group-limited, top-k).
        self.source = "router logits"
        scores = output.float().reshape(-1, cfg.n_routed_experts).sigmoid() + router.e_score_correction_bias.float()
        if cfg.n_group > 1:
            grouped = scores.view(-1, cfg.n_group, cfg.n_routed_experts // cfg.n_group)
            group_scores = grouped.topk(2, dim=-1).values.sum(-1)
            keep = torch.zeros_like(group_scores).scatter_(1, group_scores.topk(cfg.topk_group, dim=-1).indices, 1.0)
            scores = scores.masked_fill(keep.unsqueeze(-1).expand_as(grouped).reshape(scores.shape) == 0, float("-inf"))
        return scores.topk(cfg.num_experts_per_tok, dim=-1).indices

    def step(self, accelerator):
        """Applies the update; returns per-layer (max load / mean load) of the step."""
        if not self.routers:
            return []
        loads = accelerator.reduce(self.counts, reduction="sum")
        mean = loads.mean(-1, keepdim=True)
        if self.speed > 0:
            with torch.no_grad():
                for router, load, m in zip(self.routers, loads, mean):
                    bias = router.e_score_correction_bias
                    bias.add_((self.speed * torch.sign(m - load)).to(bias.dtype))
        ratio = (loads.max(-1).values / mean.squeeze(-1).clamp_min(1)).tolist()
        self.counts.zero_()
        return ratio


def make_accelerator(args):
    ddp = DistributedDataParallelKwargs(find_unused_parameters=args.find_unused_parameters)
    mixed = "bf16" if args.precision == "bf16" else "no"
    if args.strategy == "fsdp":
        from accelerate import FullyShardedDataParallelPlugin
        try:
            plugin = FullyShardedDataParallelPlugin(
                state_dict_type="FULL_STATE_DICT", auto_wrap_policy="transformer_based_wrap",
                transformer_cls_names_to_wrap=["DeepseekV3DecoderLayer"], use_orig_params=True)
        except TypeError:  # older Accelerate: fewer keyword arguments
            plugin = FullyShardedDataParallelPlugin(state_dict_type="FULL_STATE_DICT")
        return Accelerator(mixed_precision=mixed, gradient_accumulation_steps=args.grad_accum, fsdp_plugin=plugin, kwargs_handlers=[ddp])
    return Accelerator(mixed_precision=mixed, gradient_accumulation_steps=args.grad_accum, kwargs_handlers=[ddp])


def float32_kwargs():
    # transformers 5 names the argument dtype; 4.x named it torch_dtype.
    return {"dtype": torch.float32} if int(transformers.__version__.split(".")[0]) >= 5 else {"torch_dtype": torch.float32}


def load_float32(folder, device):
    return DeepseekV3ForCausalLM.from_pretrained(folder, **float32_kwargs()).to(device).eval()


@torch.no_grad()
def float32_loss(model, x, y, batch):
    """Mean next-token cross-entropy of an unwrapped float32 model over the windows (no autocast, no TF32)."""
    total, count = 0.0, 0
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch].to(model.device), y[i:i + batch].to(model.device)
        logits = model(input_ids=xb, use_cache=False).logits.float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), ignore_index=IGNORE, reduction="sum").item()
        count += int((yb != IGNORE).sum())
    return total / max(count, 1)


@torch.no_grad()
def distributed_loss(accelerator, model, x, y, batch):
    """Validation loss through the wrapped (sharded) model: every process runs the same number of batches."""
    world, rank = accelerator.num_processes, accelerator.process_index
    per_round = batch * world
    pad = (-len(x)) % per_round
    if pad:
        x = torch.cat([x, torch.zeros(pad, x.shape[1], dtype=x.dtype)])
        y = torch.cat([y, torch.full((pad, y.shape[1]), IGNORE, dtype=y.dtype)])
    sums = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    model.eval()
    for i in range(0, len(x), per_round):
        xb = x[i + rank * batch:i + (rank + 1) * batch].to(accelerator.device)
        yb = y[i + rank * batch:i + (rank + 1) * batch].to(accelerator.device)
        logits = model(input_ids=xb, use_cache=False).logits.float()
        sums[0] += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), ignore_index=IGNORE, reduction="sum")
        sums[1] += (yb != IGNORE).sum()
    model.train()
    sums = accelerator.reduce(sums, reduction="sum")
    return (sums[0] / sums[1].clamp_min(1)).item()


def main():
    args = parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 figures must be float32
    torch.backends.cudnn.allow_tf32 = False
    accelerator = make_accelerator(args)
    set_seed(args.seed)
    header, train, validation = read_tokens(args.tokens)
    val_x, val_y = evaluation_windows(validation, args.seq_len)
    if len(train) < args.seq_len + 2:
        sys.exit(f"{args.tokens}: the training stream holds {len(train)} tokens, fewer than --seq-len + 2")

    log = accelerator.print
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, {accelerator.num_processes} process(es), "
        f"{accelerator.distributed_type}, mixed precision {accelerator.mixed_precision}")
    before = None
    if accelerator.is_main_process:
        reference_model = load_float32(args.checkpoint, accelerator.device)
        if reference_model.config.vocab_size < header["vocab_size"]:
            sys.exit(f"{args.checkpoint}: vocab_size {reference_model.config.vocab_size} is smaller than the token file's {header['vocab_size']}")
        before = float32_loss(reference_model, val_x, val_y, args.batch_size)
        del reference_model
        log(f"validation loss of the imported checkpoint (float32): {before:.5f}")
    accelerator.wait_for_everyone()

    model = DeepseekV3ForCausalLM.from_pretrained(args.checkpoint, **float32_kwargs())
    config = model.config
    balancer = RoutingBalancer(model, config, args.bias_update_speed, accelerator.device)
    # Decoupled weight decay on matrices only: none on norms, biases and the routing bias (a buffer, not a parameter).
    # Chosen by name before wrapping: FSDP may show its parameters as flat shards.
    no_decay_names = {n for n, p in model.named_parameters() if p.ndim < 2}
    model = accelerator.prepare(model)

    def plain_name(name):
        return name.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "").removeprefix("module.")

    decay = [p for n, p in model.named_parameters() if p.requires_grad and plain_name(n) not in no_decay_names]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and plain_name(n) in no_decay_names]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95))

    def lr_factor(step):
        if step < args.warmup:
            return (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    # The schedule is stepped here once per optimizer step (Accelerate's prepared scheduler would step once per process).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    optimizer = accelerator.prepare(optimizer)
    balancer.routers = [m for m in model.modules() if hasattr(m, "e_score_correction_bias")] or balancer.routers

    rng = np.random.default_rng(args.seed * 1000 + accelerator.process_index)
    curve, load_ratio = [], []
    tokens_per_step = args.batch_size * args.seq_len * args.grad_accum * accelerator.num_processes
    model.train()
    accelerator.wait_for_everyone()
    start = time.perf_counter()
    for step in range(args.steps):
        for _ in range(args.grad_accum):
            starts = rng.integers(0, len(train) - args.seq_len - 1, size=args.batch_size)
            window = np.stack([train[s:s + args.seq_len + 1] for s in starts]).astype(np.int64)
            batch = torch.from_numpy(window).to(accelerator.device)
            with accelerator.accumulate(model):
                logits = model(input_ids=batch[:, :-1], use_cache=False).logits
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        load_ratio = balancer.step(accelerator)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            balancer.enabled = False
            val = distributed_loss(accelerator, model, val_x, val_y, args.batch_size)
            balancer.enabled = True
            train_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
            curve.append({"step": step + 1, "train_loss": round(train_loss, 5), "validation_loss": round(val, 5)})
            log(f"step {step + 1}/{args.steps}: train loss {train_loss:.4f}, validation loss ({args.precision}) {val:.4f}, "
                f"max/mean expert load {max(load_ratio) if load_ratio else 0:.2f}")
    accelerator.wait_for_everyone()
    seconds = time.perf_counter() - start

    # Save: full (gathered) state dict, written once by rank 0, with the tokenizer files MLNet.MoE reads back.
    state = accelerator.get_state_dict(model)
    accelerator.unwrap_model(model).save_pretrained(args.output, state_dict=state, is_main_process=accelerator.is_main_process,
                                                    save_function=accelerator.save)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name in TOKENIZER_FILES:
            for folder in (args.checkpoint, args.tokens):
                if os.path.exists(os.path.join(folder, name)):
                    shutil.copyfile(os.path.join(folder, name), os.path.join(args.output, name))
                    break
        saved = load_float32(args.output, accelerator.device)
        after = float32_loss(saved, val_x, val_y, args.batch_size)
        n = min(args.reference_len, (len(validation) - 1) // 2)
        ids = torch.from_numpy(np.stack([validation[0:n], validation[n:2 * n]]).astype(np.int64))
        with torch.no_grad():
            logits = saved(input_ids=ids.to(saved.device), use_cache=False).logits.float().cpu()
        reference = {
            "description": "float32 logits of DeepseekV3ForCausalLM.from_pretrained(this folder) for input_ids (two windows of the validation stream)",
            "torch": torch.__version__, "transformers": transformers.__version__,
            "input_ids": ids.tolist(), "logits_shape": list(logits.shape),
            "logits": [round(v, 6) for v in logits.reshape(-1).tolist()],
            "validation_loss_before": round(before, 6), "validation_loss_after": round(after, 6),
        }
        with open(os.path.join(args.output, "reference_logits.json"), "w") as f:
            json.dump(reference, f)
        biases = [r.e_score_correction_bias.float() for r in saved.modules() if hasattr(r, "e_score_correction_bias")]
        run = {
            "strategy": args.strategy, "distributed_type": str(accelerator.distributed_type), "processes": accelerator.num_processes,
            "precision": args.precision, "steps": args.steps, "tokens_per_step": tokens_per_step,
            "tokens_per_s": round(tokens_per_step * args.steps / seconds), "seconds": round(seconds, 1),
            "validation_loss_before_fp32": round(before, 5), "validation_loss_after_fp32": round(after, 5),
            "validation_tokens": int((val_y != IGNORE).sum()), "curve": curve,
            "final_max_over_mean_expert_load": [round(r, 3) for r in load_ratio], "routing_source": balancer.source,
            "routing_bias_abs_max": round(max((b.abs().max().item() for b in biases), default=0.0), 5),
            "peak_memory_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "transformers": transformers.__version__,
        }
        with open(os.path.join(args.output, "scale_out_run.json"), "w") as f:
            json.dump(run, f, indent=2)
        print(json.dumps({k: v for k, v in run.items() if k != "curve"}), flush=True)
    accelerator.end_training()


if __name__ == "__main__":
    main()
