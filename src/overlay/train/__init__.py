"""Imprint: knowledge put *inside* the weights, as a LoRA adapter trained on a built dataset."""

from overlay.train.lora import RECORD, LoraSettings, train_lora

__all__ = ["RECORD", "LoraSettings", "train_lora"]
