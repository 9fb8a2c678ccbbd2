"""Trains the model exported from Strata with Strata's settings (optimizer, learning rate, batch
size, epochs, loss, L1/L2, early stopping) on the same split, on one CPU, one GPU, or many
processes and machines with DistributedDataParallel:

    python train.py                                          # one process
    torchrun --standalone --nproc_per_node=2 train.py        # two processes on this machine
    torchrun --nnodes=4 --nproc_per_node=8 --rdzv-endpoint=HOST:29500 train.py   # a cluster

The best weights (lowest validation loss) are written with Strata's tensor names to --out; add
them to the project with `strata import-run PROJECT.strata trained.safetensors`.
"""

import argparse
import math
import os
import random
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

import data
import model as exported


def arguments(recipe):
    t = recipe["training"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=t["epochs"])
    p.add_argument("--lr", type=float, default=t["lr"])
    p.add_argument("--batch-size", type=int, default=t["batch_size"],
                   help="samples per step over all processes (each takes its share)")
    p.add_argument("--data", default=None,
                   help="the data folder or CSV file, when it is not where Strata read it")
    p.add_argument("--out", default="trained.safetensors", help="where the best weights go")
    p.add_argument("--start-from", default=None,
                   help="weights to start from (e.g. weights.safetensors) instead of new ones")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=2, help="processes decoding samples")
    p.add_argument("--seed", type=int, default=t["seed"])
    return p.parse_args()


def optimizer_for(model, t, lr):
    """Strata's optimizer: L1/L2 on the penalised tensors go into the loss; AdamW's decay (0.01
    when L2 is 0, as in PyTorch) acts on the penalised tensors only."""
    names = {exported.strata_name(n): p for n, p in model.named_parameters()}
    penalised = [p for n, p in names.items() if n in exported.PENALIZED]
    others = [p for n, p in names.items() if n not in exported.PENALIZED]
    kind = t["optimizer"]
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr)
    if kind == "momentum":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if kind == "adamw":
        decay = t["l2"] or 0.01
        return torch.optim.AdamW(
            [{"params": penalised, "weight_decay": decay}, {"params": others, "weight_decay": 0.0}],
            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)


def loss_of(scores, target, t, classes):
    """Strata's loss on the scores before the output activation."""
    act = exported.OUTPUT_ACTIVATION
    if t["loss"] == "cross_entropy":
        logits = scores if act in ("softmax", "linear") else exported.activate(scores)
        return F.cross_entropy(logits, target)
    if t["loss"] == "binary_cross_entropy":
        logits = scores if act in ("sigmoid", "linear") else exported.activate(scores)
        return F.binary_cross_entropy_with_logits(logits, F.one_hot(target, classes).float())
    y = exported.activate(scores)
    if target.dtype == torch.long:
        target = F.one_hot(target, classes).float()
    return F.mse_loss(y, target)


def penalty(model, t):
    l1 = t["l1"]
    l2 = 0.0 if t["optimizer"] == "adamw" else t["l2"]
    if l1 == 0 and l2 == 0:
        return 0.0
    total = 0.0
    for n, p in model.named_parameters():
        if exported.strata_name(n) in exported.PENALIZED:
            total = total + l1 * p.abs().sum() + l2 * (p * p).sum()
    return total


def evaluate(model, loader, t, classes, device):
    """Mean loss and accuracy (0 for regression) over a loader."""
    model.eval()
    total, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            scores = model(x)
            total += loss_of(scores, y, t, classes).item() * len(x)
            if y.dtype == torch.long:
                correct += (scores.argmax(1) == y).sum().item()
            n += len(x)
    return total / max(n, 1), correct / max(n, 1)


def main():
    recipe = data.load_recipe()
    args = arguments(recipe)
    t = recipe["training"]
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    classes = max(len(recipe["classes"]), 1)
    train_set = data.StrataData("train", recipe, args.data)
    val_set = data.StrataData("val", recipe, args.data)
    test_set = data.StrataData("test", recipe, args.data)
    # Strata's "learn from the validation samples too": they join the training samples, there is
    # no validation score and the last epoch's weights are kept.
    learn_from_val = t.get("learn_from_validation", False)
    if learn_from_val:
        train_set = torch.utils.data.ConcatDataset([train_set, val_set])
        val_set = torch.utils.data.Subset(val_set, [])
    per_process = max(1, math.ceil(args.batch_size / world))
    sampler = DistributedSampler(train_set, seed=args.seed) if distributed else None
    train_loader = DataLoader(train_set, batch_size=per_process, shuffle=sampler is None,
                              sampler=sampler, num_workers=args.workers)
    val_loader = DataLoader(val_set, batch_size=256, num_workers=args.workers)
    test_loader = DataLoader(test_set, batch_size=256, num_workers=args.workers)

    model = exported.Model().to(device)
    if args.start_from:
        exported.load_weights(model, args.start_from)
    net = DistributedDataParallel(model) if distributed else model
    optimizer = optimizer_for(model, t, args.lr)
    # Strata's "lower the learning rate over the epochs": a half cosine, stepped once per epoch.
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                 if t.get("lr_decay") else None)
    patience = t["early_stopping_patience"]
    best, best_epoch, waited = math.inf, 0, 0
    best_state = None
    if rank == 0:
        print(f"training on {len(train_set)} samples ({len(val_set)} validation, "
              f"{len(test_set)} test), {world} process(es) on {device}, "
              f"{per_process} samples per process per step")
    for epoch in range(1, args.epochs + 1):
        start = time.time()
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        total, correct, n = 0.0, 0, 0
        rate = (f", learning rate {optimizer.param_groups[0]['lr']:.6g}"
                if scheduler is not None else "")
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            scores = net(x)
            loss = loss_of(scores, y, t, classes)
            optimizer.zero_grad()
            (loss + penalty(model, t)).backward()
            optimizer.step()
            total += loss.item() * len(x)
            if y.dtype == torch.long:
                correct += (scores.argmax(1) == y).sum().item()
            n += len(x)
        if scheduler is not None:
            scheduler.step()
        if learn_from_val:
            best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if rank == 0:
                print(f"epoch {epoch}/{args.epochs}: loss {total / max(n, 1):.4f}, "
                      f"accuracy {correct / max(n, 1):.4f}{rate} ({time.time() - start:.1f} s)",
                      flush=True)
            continue
        # Every process evaluates the same validation samples, so all agree on when to stop.
        val_loss, val_acc = evaluate(model, val_loader, t, classes, device)
        if rank == 0:
            print(f"epoch {epoch}/{args.epochs}: loss {total / max(n, 1):.4f}, "
                  f"accuracy {correct / max(n, 1):.4f}, validation loss {val_loss:.4f}, "
                  f"validation accuracy {val_acc:.4f}{rate} ({time.time() - start:.1f} s)",
                  flush=True)
        if val_loss < best:
            best, best_epoch, waited = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if patience is not None and waited >= patience:
                if rank == 0:
                    print(f"stopped early: no better validation loss for {patience} epochs")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    if rank == 0:
        exported.save_weights(model, args.out)
        test_loss, test_acc = evaluate(model, test_loader, t, classes, device)
        print(f"best epoch {best_epoch}: test loss {test_loss:.4f}"
              + (f", test accuracy {test_acc:.4f}" if recipe["task"] == "classification" else ""))
        print(f"wrote {args.out}; add it to the project with: "
              f"strata import-run PROJECT.strata {args.out}")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
