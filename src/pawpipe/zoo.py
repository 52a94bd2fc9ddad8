"""The demo's micro Swin, registered with timm under its own name.

`backbone.name: swin_micro_patch4_window4_64` builds a Swin transformer of about 0.57M parameters
at 64 px (window 4, embed_dim 32, depths [2, 2, 2]) that trains on 2 CPU cores in seconds. Because
it is a named model rather than kwargs that shrink a full-size one, an overlay that sets
`backbone.name` to any other timm model gets that model's own shape.
"""

from __future__ import annotations

from timm.models import generate_default_cfgs, register_model
from timm.models.swin_transformer import _cfg, _create_swin_transformer

MICRO_SWIN = "swin_micro_patch4_window4_64"

default_cfgs = generate_default_cfgs({MICRO_SWIN: _cfg(url="", input_size=(3, 64, 64), pool_size=None)})


@register_model
def swin_micro_patch4_window4_64(pretrained: bool = False, **kwargs):
    """Swin at 64 px: patch 4, window 4, embed_dim 32, depths (2, 2, 2), heads (2, 4, 8); no hub weights."""
    shape = dict(img_size=64, patch_size=4, window_size=4, embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8))
    return _create_swin_transformer(MICRO_SWIN, pretrained=pretrained, **{**shape, **kwargs})
