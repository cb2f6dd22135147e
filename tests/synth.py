"""Synthetic model files for tests: valid safetensors/GGUF/pickle files, hostile headers, real key names.

Plain functions, no fixtures. Every file is tiny: tensors that detection probes carry their real shapes,
everything else is shape ``(1,)``. Tensor data is all zero bytes (written sparse where the OS allows).
Nothing here ever unpickles anything.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Tensors = dict[str, tuple[str, tuple[int, ...]]]

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    numel = 1
    for dim in shape:
        numel *= dim
    return numel * DTYPE_BITS[dtype] // 8


# ---------------------------------------------------------------------------------------------- safetensors


def safetensors_header(
    tensors: Mapping[str, tuple[str, tuple[int, ...]]], metadata: Mapping[str, str] | None = None
) -> tuple[bytes, int]:
    """The 8-byte length + JSON header, and the data section's size."""
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = _nbytes(dtype, tuple(shape))
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the reference pads to 8 with spaces
    return struct.pack("<Q", len(raw)) + raw, offset


def safetensors_bytes(
    tensors: Mapping[str, tuple[str, tuple[int, ...]]], metadata: Mapping[str, str] | None = None
) -> bytes:
    head, data_size = safetensors_header(tensors, metadata)
    return head + bytes(data_size)


def write_safetensors(
    path: Path | str,
    tensors: Mapping[str, tuple[str, tuple[int, ...]]],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a VALID safetensors file; the zero data is made by truncate (sparse, fast)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head, data_size = safetensors_header(tensors, metadata)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + data_size)
    return path


# -------------------------------------------------------------------------------------------------- families


def _f(shape: tuple[int, ...] = (1,), dtype: str = "F16") -> tuple[str, tuple[int, ...]]:
    return (dtype, shape)


def _family(
    type_: str,
    base: str,
    tensors: Tensors,
    *,
    metadata: dict[str, str] | None = None,
    filename: str = "",
    subtype: str | None = None,
    variant: str | None = "fp16",
) -> dict[str, Any]:
    return {
        "type": type_,
        "base_model": base,
        "tensors": tensors,
        "metadata": metadata or {},
        "filename": filename,
        "subtype": subtype,
        "variant": variant,
    }


def _prefixed(prefix: str, tensors: Tensors) -> Tensors:
    return {prefix + k: v for k, v in tensors.items()}


_UNET = "model.diffusion_model."

_SD_VAE: Tensors = {
    "encoder.conv_in.weight": _f((128, 3, 3, 3)),
    "encoder.conv_out.weight": _f((8, 512, 3, 3)),
    "decoder.conv_in.weight": _f((512, 4, 3, 3)),
    "decoder.conv_out.weight": _f((3, 128, 3, 3)),
    "quant_conv.weight": _f((8, 8, 1, 1)),
    "decoder.mid.attn_1.q.weight": _f(),
}
_FLUX_VAE: Tensors = {
    "encoder.conv_in.weight": _f((128, 3, 3, 3)),
    "encoder.conv_out.weight": _f((32, 512, 3, 3)),
    "decoder.conv_in.weight": _f((512, 16, 3, 3)),
    "decoder.conv_out.weight": _f((3, 128, 3, 3)),
    "decoder.mid.attn_1.q.weight": _f(),
}
_CLIP_L: Tensors = {
    "text_model.embeddings.position_embedding.weight": _f((77, 768)),
    "text_model.encoder.layers.0.self_attn.k_proj.weight": _f(),
    "text_model.encoder.layers.11.self_attn.k_proj.weight": _f(),
    "text_model.final_layer_norm.weight": _f((768,)),
}
_CLIP_G: Tensors = {
    "text_model.embeddings.position_embedding.weight": _f((77, 1280)),
    "text_model.encoder.layers.0.self_attn.k_proj.weight": _f(),
    "text_model.encoder.layers.31.self_attn.k_proj.weight": _f(),
    "text_model.final_layer_norm.weight": _f((1280,)),
    "text_projection.weight": _f(),
}
_T5XXL: Tensors = {
    "encoder.block.0.layer.0.SelfAttention.k.weight": _f(),
    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": _f(),
    "encoder.block.23.layer.1.DenseReluDense.wi_0.weight": _f(),
    "encoder.final_layer_norm.weight": _f((4096,)),
}
_FLUX_DIT: Tensors = {
    "img_in.weight": _f((3072, 64), "BF16"),
    "txt_in.bias": _f((3072,), "BF16"),
    "double_blocks.0.img_attn.norm.key_norm.scale": _f((128,), "BF16"),
    "double_blocks.0.img_attn.qkv.weight": _f((1,), "BF16"),
    "double_blocks.18.img_attn.qkv.weight": _f((1,), "BF16"),
    "single_blocks.0.linear1.weight": _f((1,), "BF16"),
    "single_blocks.37.linear1.weight": _f((1,), "BF16"),
    "vector_in.in_layer.weight": _f((1,), "BF16"),
    "final_layer.linear.weight": _f((1,), "BF16"),
}
_SD15_UNET: Tensors = {
    "input_blocks.0.0.weight": _f((320, 4, 3, 3)),
    "input_blocks.1.1.proj_in.weight": _f((320, 320, 1, 1)),
    "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": _f((320, 768)),
    "middle_block.1.proj_in.weight": _f(),
    "out.2.weight": _f((4, 320, 3, 3)),
    "time_embed.0.weight": _f(),
}
_SD2_UNET: Tensors = {
    "input_blocks.0.0.weight": _f((320, 4, 3, 3)),
    "input_blocks.1.1.proj_in.weight": _f((320, 320)),
    "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": _f((320, 1024)),
    "out.2.weight": _f((4, 320, 3, 3)),
    "time_embed.0.weight": _f(),
}
_SDXL_UNET: Tensors = {
    "input_blocks.0.0.weight": _f((320, 4, 3, 3)),
    "input_blocks.4.1.proj_in.weight": _f((640, 640)),
    "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": _f((640, 2048)),
    "label_emb.0.0.bias": _f((1280,)),
    "out.2.weight": _f((4, 320, 3, 3)),
    "time_embed.0.weight": _f(),
}
_REFINER_UNET: Tensors = {
    "input_blocks.0.0.weight": _f((384, 4, 3, 3)),
    "input_blocks.4.1.proj_in.weight": _f((768, 768)),
    "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": _f((768, 1280)),
    "label_emb.0.0.bias": _f((1536,)),
    "out.2.weight": _f((4, 384, 3, 3)),
}
_SD3_MMDIT: Tensors = {
    "x_embedder.proj.weight": _f((1536, 16, 2, 2)),
    "joint_blocks.0.context_block.attn.qkv.weight": _f(),
    "joint_blocks.0.x_block.attn.qkv.weight": _f(),
    "joint_blocks.23.x_block.attn.qkv.weight": _f(),
    "context_embedder.weight": _f(),
    "final_layer.linear.weight": _f(),
}

_KOHYA_SD_ATTN = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
_KOHYA_XL_ATTN = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k"
_TE_K = "text_model_encoder_layers_0_self_attn_k_proj"


def _kohya(stem: str, rank: int, in_dim: int, out_dim: int) -> Tensors:
    return {
        f"{stem}.lora_down.weight": _f((rank, in_dim)),
        f"{stem}.lora_up.weight": _f((out_dim, rank)),
        f"{stem}.alpha": _f((), "F32"),
    }


FAMILIES: dict[str, dict[str, Any]] = {
    # ---- checkpoints (UNet + VAE + text encoders in one file)
    "sd15_checkpoint": _family(
        "checkpoint",
        "sd15",
        {
            **_prefixed(_UNET, _SD15_UNET),
            **_prefixed("first_stage_model.", _SD_VAE),
            **_prefixed("cond_stage_model.transformer.", _CLIP_L),
        },
    ),
    "sd15_inpaint_checkpoint": _family(
        "checkpoint",
        "sd15",
        {
            **_prefixed(_UNET, {**_SD15_UNET, "input_blocks.0.0.weight": _f((320, 9, 3, 3))}),
            **_prefixed("first_stage_model.", _SD_VAE),
            **_prefixed("cond_stage_model.transformer.", _CLIP_L),
        },
        subtype="inpaint",
    ),
    "sd2_checkpoint": _family(
        "checkpoint",
        "sd2",
        {
            **_prefixed(_UNET, _SD2_UNET),
            **_prefixed("first_stage_model.", _SD_VAE),
            "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": _f(),
            "cond_stage_model.model.ln_final.weight": _f((1024,)),
        },
        metadata={"modelspec.architecture": "stable-diffusion-v2-768-v", "modelspec.prediction_type": "v"},
    ),
    "sdxl_checkpoint": _family(
        "checkpoint",
        "sdxl",
        {
            **_prefixed(_UNET, _SDXL_UNET),
            **_prefixed("first_stage_model.", _SD_VAE),
            **_prefixed("conditioner.embedders.0.transformer.", _CLIP_L),
            "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight": _f(),
            "conditioner.embedders.1.model.ln_final.weight": _f((1280,)),
        },
    ),
    "sdxl_refiner_checkpoint": _family(
        "checkpoint",
        "sdxl_refiner",
        {
            **_prefixed(_UNET, _REFINER_UNET),
            **_prefixed("first_stage_model.", _SD_VAE),
            "conditioner.embedders.0.model.transformer.resblocks.0.attn.in_proj_weight": _f(),
            "conditioner.embedders.0.model.ln_final.weight": _f((1280,)),
        },
    ),
    "sdxl_unet": _family("diffusion_model", "sdxl", dict(_SDXL_UNET)),
    "kolors_unet": _family(
        "diffusion_model",
        "kolors",
        {**_SDXL_UNET, "encoder_hid_proj.weight": _f(), "label_emb.0.0.bias": _f()},
    ),
    "sd3_medium_checkpoint": _family(
        "checkpoint",
        "sd3",
        {
            **_prefixed(_UNET, _SD3_MMDIT),
            **_prefixed("first_stage_model.", _FLUX_VAE),
            **_prefixed("text_encoders.clip_l.transformer.", _CLIP_L),
            **_prefixed("text_encoders.clip_g.transformer.", _CLIP_G),
        },
        subtype="medium",
    ),
    "sd35_large_diffusion": _family(
        "diffusion_model",
        "sd35",
        {
            **_SD3_MMDIT,
            "x_embedder.proj.weight": _f((2432, 16, 2, 2)),
            "joint_blocks.37.x_block.attn.qkv.weight": _f(),
        },
        subtype="large",
    ),
    "sd35_medium_diffusion": _family(
        "diffusion_model",
        "sd35",
        {**_SD3_MMDIT, "joint_blocks.0.x_block.attn2.qkv.weight": _f()},
        subtype="medium",
    ),
    "flux1_dev_diffusion": _family(
        "diffusion_model",
        "flux1",
        {**_FLUX_DIT, "guidance_in.in_layer.weight": _f((1,), "BF16")},
        subtype="dev",
        variant="bf16",
    ),
    "flux1_schnell_diffusion": _family(
        "diffusion_model", "flux1", dict(_FLUX_DIT), subtype="schnell", variant="bf16"
    ),
    "flux1_dev_fp8_diffusion": _family(
        "diffusion_model",
        "flux1",
        {
            **{k: ("F8_E4M3", s) for k, (_, s) in _FLUX_DIT.items()},
            "guidance_in.in_layer.weight": _f((1,), "F8_E4M3"),
        },
        subtype="dev",
        variant="fp8_e4m3fn",
    ),
    "flux1_fill_diffusion": _family(
        "diffusion_model",
        "flux1",
        {
            **_FLUX_DIT,
            "img_in.weight": _f((3072, 384), "BF16"),
            "guidance_in.in_layer.weight": _f((1,), "BF16"),
        },
        subtype="fill",
        variant="bf16",
    ),
    "flux1_checkpoint": _family(
        "checkpoint",
        "flux1",
        {
            **_prefixed(_UNET, {**_FLUX_DIT, "guidance_in.in_layer.weight": _f((1,), "BF16")}),
            **_prefixed("vae.", {k: ("BF16", s) for k, (_, s) in _FLUX_VAE.items()}),
            **_prefixed(
                "text_encoders.clip_l.transformer.", {k: ("BF16", s) for k, (_, s) in _CLIP_L.items()}
            ),
            **_prefixed("text_encoders.t5xxl.transformer.", {k: ("BF16", s) for k, (_, s) in _T5XXL.items()}),
        },
        subtype="dev",
        variant="bf16",
    ),
    "chroma_diffusion": _family(
        "diffusion_model",
        "chroma",
        {
            **{k: v for k, v in _FLUX_DIT.items() if not k.startswith("vector_in")},
            "distilled_guidance_layer.in_proj.weight": _f((1,), "BF16"),
            "distilled_guidance_layer.norms.0.scale": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "flux2_diffusion": _family(
        "diffusion_model",
        "flux2",
        {
            "img_in.weight": _f((6144, 128), "BF16"),
            "double_blocks.0.img_attn.norm.key_norm.scale": _f((128,), "BF16"),
            "double_stream_modulation_img.lin.weight": _f((1,), "BF16"),
            "single_blocks.0.linear1.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "hunyuan_video_diffusion": _family(
        "diffusion_model",
        "hunyuan_video",
        {
            "img_in.proj.weight": _f((3072, 16, 1, 2, 2), "BF16"),
            "txt_in.individual_token_refiner.blocks.0.norm1.weight": _f((1,), "BF16"),
            "txt_in.input_embedder.weight": _f((1,), "BF16"),
            "double_blocks.0.img_attn_qkv.weight": _f((1,), "BF16"),
            "double_blocks.0.img_attn_k_norm.weight": _f((1,), "BF16"),
            "single_blocks.0.linear1.weight": _f((1,), "BF16"),
            "final_layer.linear.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "pixart_sigma_diffusion": _family(
        "diffusion_model",
        "pixart",
        {
            "x_embedder.proj.weight": _f((1152, 4, 2, 2)),
            "t_block.1.weight": _f(),
            "y_embedder.y_proj.fc1.weight": _f(),
            "blocks.0.cross_attn.q_linear.weight": _f(),
            "blocks.27.cross_attn.q_linear.weight": _f(),
        },
    ),
    "auraflow_diffusion": _family(
        "diffusion_model",
        "auraflow",
        {
            "double_layers.0.attn.w1q.weight": _f(),
            "single_layers.0.attn.w1q.weight": _f(),
            "cond_seq_linear.weight": _f(),
            "positional_encoding": _f(),
            "register_tokens": _f(),
        },
    ),
    "hunyuan_dit_diffusion": _family(
        "diffusion_model",
        "hunyuan_dit",
        {
            "mlp_t5.0.weight": _f(),
            "extra_embedder.0.weight": _f(),
            "x_embedder.proj.weight": _f(),
            "blocks.0.attn1.Wqkv.weight": _f(),
        },
    ),
    "ltxv_diffusion": _family(
        "diffusion_model",
        "ltxv",
        {
            "adaln_single.emb.timestep_embedder.linear_1.bias": _f((1,), "BF16"),
            "transformer_blocks.0.attn2.to_k.weight": _f((1,), "BF16"),
            "transformer_blocks.0.scale_shift_table": _f((1,), "BF16"),
            "caption_projection.linear_1.weight": _f((1,), "BF16"),
            "patchify_proj.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "mochi_diffusion": _family(
        "diffusion_model",
        "mochi",
        {"t5_yproj.weight": _f((1,), "BF16"), "blocks.0.attn.qkv_x.weight": _f((1,), "BF16")},
        variant="bf16",
    ),
    "wan_t2v_diffusion": _family(
        "diffusion_model",
        "wan",
        {
            "patch_embedding.weight": _f((1536, 16, 1, 2, 2)),
            "head.modulation": _f((1, 2, 1536)),
            "head.head.weight": _f(),
            "blocks.0.ffn.0.weight": _f(),
            "blocks.0.cross_attn.k.weight": _f(),
            "blocks.0.self_attn.q.weight": _f(),
        },
        subtype="t2v",
    ),
    "wan_i2v_diffusion": _family(
        "diffusion_model",
        "wan",
        {
            "patch_embedding.weight": _f((1536, 36, 1, 2, 2)),
            "head.modulation": _f((1, 2, 1536)),
            "img_emb.proj.0.bias": _f(),
            "blocks.0.ffn.0.weight": _f(),
            "blocks.0.cross_attn.k_img.weight": _f(),
        },
        subtype="i2v",
    ),
    "cosmos_diffusion": _family(
        "diffusion_model",
        "cosmos",
        {
            "blocks.block0.blocks.0.block.attn.to_q.0.weight": _f(),
            "x_embedder.proj.1.weight": _f(),
        },
        subtype="predict1",
    ),
    "lumina2_diffusion": _family(
        "diffusion_model",
        "lumina2",
        {
            "x_embedder.weight": _f((2304, 64), "BF16"),
            "cap_embedder.1.weight": _f((1,), "BF16"),
            "noise_refiner.0.attention.k_norm.weight": _f((1,), "BF16"),
            "layers.0.attention.qkv.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "hidream_diffusion": _family(
        "diffusion_model",
        "hidream",
        {
            "caption_projection.0.linear.weight": _f((1,), "BF16"),
            "double_stream_blocks.0.block.attn1.to_q.weight": _f((1,), "BF16"),
            "single_stream_blocks.0.block.attn1.to_q.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "qwen_image_diffusion": _family(
        "diffusion_model",
        "qwen_image",
        {
            "img_in.weight": _f((3072, 64), "BF16"),
            "txt_norm.weight": _f((3584,), "BF16"),
            "txt_in.weight": _f((1,), "BF16"),
            "transformer_blocks.0.img_mod.1.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "stable_cascade_stage_c": _family(
        "diffusion_model",
        "stable_cascade",
        {"clf.1.weight": _f(), "clip_txt_mapper.weight": _f(), "down_blocks.0.0.channelwise.0.weight": _f()},
        subtype="stage_c",
    ),
    "stable_cascade_stage_b": _family(
        "diffusion_model",
        "stable_cascade",
        {"clf.1.weight": _f(), "clip_mapper.weight": _f(), "down_blocks.1.0.channelwise.0.weight": _f()},
        subtype="stage_b",
    ),
    # ---- LoRA and LyCORIS
    "sd15_lora_kohya": _family(
        "lora",
        "sd15",
        {**_kohya(_KOHYA_SD_ATTN, 16, 768, 320), **_kohya(f"lora_te_{_TE_K}", 16, 768, 768)},
        metadata={"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1"},
    ),
    "sd2_lora_kohya": _family(
        "lora",
        "sd2",
        {**_kohya(_KOHYA_SD_ATTN, 8, 1024, 320), **_kohya(f"lora_te_{_TE_K}", 8, 1024, 1024)},
    ),
    "sdxl_lora_kohya": _family(
        "lora",
        "sdxl",
        {
            **_kohya(_KOHYA_XL_ATTN, 16, 2048, 640),
            **_kohya(f"lora_te1_{_TE_K}", 16, 768, 768),
            **_kohya(f"lora_te2_{_TE_K}", 16, 1280, 1280),
        },
        metadata={
            "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
            "ss_network_module": "networks.lora",
            "ss_base_model_version": "sdxl_base_v1-0",
        },
    ),
    "sdxl_lora_unet_only": _family(
        "lora",
        "sdxl",
        _kohya("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", 8, 2048, 640),
    ),
    "sdxl_lora_diffusers": _family(
        "lora",
        "sdxl",
        {
            "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": _f((8, 2048)),
            "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight": _f((640, 8)),
        },
    ),
    "flux_lora_peft": _family(
        "lora",
        "flux1",
        {
            "transformer.single_transformer_blocks.0.attn.to_k.lora_A.weight": _f((16, 3072), "BF16"),
            "transformer.single_transformer_blocks.0.attn.to_k.lora_B.weight": _f((3072, 16), "BF16"),
            "transformer.transformer_blocks.0.attn.add_k_proj.lora_A.weight": _f((16, 3072), "BF16"),
            "transformer.transformer_blocks.0.attn.add_k_proj.lora_B.weight": _f((3072, 16), "BF16"),
        },
        variant="bf16",
    ),
    "flux_lora_kohya": _family(
        "lora",
        "flux1",
        {
            **_kohya("lora_unet_double_blocks_0_img_attn_proj", 16, 3072, 3072),
            **_kohya("lora_unet_single_blocks_0_linear1", 16, 3072, 1),
        },
        metadata={"ss_network_module": "networks.lora_flux", "modelspec.architecture": "flux-1-dev/lora"},
    ),
    "flux_lora_comfy": _family(
        "lora",
        "flux1",
        {
            "diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight": _f((16, 3072), "BF16"),
            "diffusion_model.double_blocks.0.img_attn.qkv.lora_B.weight": _f((1,), "BF16"),
            "diffusion_model.single_blocks.0.linear1.lora_A.weight": _f((16, 3072), "BF16"),
            "diffusion_model.double_blocks.0.img_mlp.0.lora_A.weight": _f((16, 3072), "BF16"),
        },
        variant="bf16",
    ),
    # Flux and Hunyuan Video share double/single block attention names: without MLP/modulation keys or
    # metadata the base must stay unknown.
    "double_blocks_lora_ambiguous": _family(
        "lora",
        "unknown",
        {
            "diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight": _f((16, 3072), "BF16"),
            "diffusion_model.single_blocks.0.linear1.lora_A.weight": _f((16, 3072), "BF16"),
        },
        variant="bf16",
    ),
    "hunyuan_video_lora": _family(
        "lora",
        "hunyuan_video",
        {
            "diffusion_model.double_blocks.0.img_attn_qkv.lora_A.weight": _f((16, 3072), "BF16"),
            "diffusion_model.double_blocks.0.img_mlp.fc1.lora_A.weight": _f((16, 3072), "BF16"),
        },
        variant="bf16",
    ),
    "wan_lora": _family(
        "lora",
        "wan",
        {
            "diffusion_model.blocks.0.cross_attn.k.lora_A.weight": _f((16, 5120), "BF16"),
            "diffusion_model.blocks.0.cross_attn.k.lora_B.weight": _f((1,), "BF16"),
            "diffusion_model.blocks.0.ffn.0.lora_A.weight": _f((1,), "BF16"),
            "diffusion_model.blocks.0.self_attn.q.lora_A.weight": _f((1,), "BF16"),
        },
        variant="bf16",
    ),
    "sd15_loha": _family(
        "lora",
        "sd15",
        {
            f"{_KOHYA_SD_ATTN}.hada_w1_a": _f((320, 8)),
            f"{_KOHYA_SD_ATTN}.hada_w1_b": _f((8, 768)),
            f"{_KOHYA_SD_ATTN}.hada_w2_a": _f((320, 8)),
            f"{_KOHYA_SD_ATTN}.hada_w2_b": _f((8, 768)),
            f"{_KOHYA_SD_ATTN}.alpha": _f((), "F32"),
            f"lora_te_{_TE_K}.hada_w1_a": _f((768, 8)),
            f"lora_te_{_TE_K}.hada_w1_b": _f((8, 768)),
        },
        metadata={"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'},
        subtype="loha",
    ),
    "sdxl_lokr": _family(
        "lora",
        "sdxl",
        {
            f"lora_te1_{_TE_K}.lokr_w1": _f((8, 8)),
            f"lora_te1_{_TE_K}.lokr_w2": _f((96, 96)),
            f"lora_te2_{_TE_K}.lokr_w1": _f((8, 8)),
            f"lora_te2_{_TE_K}.lokr_w2": _f((160, 160)),
            f"{_KOHYA_XL_ATTN}.lokr_w1": _f((4, 8)),
            f"{_KOHYA_XL_ATTN}.lokr_w2": _f((160, 256)),
        },
        metadata={"ss_network_module": "lycoris.kohya"},
        subtype="lokr",
    ),
    # ---- VAEs (SD1/SDXL VAEs share one architecture: only a name or metadata tells them apart)
    "vae_sd15": _family("vae", "sd15", dict(_SD_VAE), filename="vae-ft-mse-840000-ema-pruned.safetensors"),
    "vae_sdxl": _family("vae", "sdxl", dict(_SD_VAE), filename="sdxl_vae.safetensors"),
    "vae_sd_unnamed": _family("vae", "unknown", dict(_SD_VAE), filename="my_vae.safetensors"),
    "vae_flux": _family("vae", "flux1", dict(_FLUX_VAE), filename="ae.safetensors"),
    "vae_16ch_unnamed": _family("vae", "unknown", dict(_FLUX_VAE), filename="vae.safetensors"),
    # ---- text encoders (shared by several bases: base stays unknown)
    "clip_l": _family("text_encoder", "unknown", dict(_CLIP_L), subtype="clip_l"),
    "clip_g": _family("text_encoder", "unknown", dict(_CLIP_G), subtype="clip_g"),
    "t5xxl": _family("text_encoder", "unknown", dict(_T5XXL), subtype="t5xxl"),
    "umt5xxl": _family(
        "text_encoder",
        "unknown",
        {**_T5XXL, "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight": _f()},
        subtype="umt5xxl",
    ),
    # ---- ControlNets
    "controlnet_sd15": _family(
        "controlnet",
        "sd15",
        {
            "control_model.input_hint_block.0.weight": _f((16, 3, 3, 3)),
            "control_model.zero_convs.0.0.weight": _f(),
            "control_model.input_blocks.0.0.weight": _f((320, 4, 3, 3)),
            "control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": _f((320, 768)),
            "control_model.middle_block_out.0.weight": _f(),
        },
    ),
    "controlnet_sd15_comfy": _family(
        "controlnet",
        "sd15",
        {
            "input_hint_block.0.weight": _f((16, 3, 3, 3)),
            "zero_convs.0.0.weight": _f(),
            "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": _f((320, 768)),
            "middle_block_out.0.weight": _f(),
        },
    ),
    "controlnet_sdxl": _family(
        "controlnet",
        "sdxl",
        {
            "controlnet_cond_embedding.conv_in.weight": _f((16, 3, 3, 3)),
            "controlnet_down_blocks.0.weight": _f(),
            "conv_in.weight": _f((320, 4, 3, 3)),
            "add_embedding.linear_1.weight": _f(),
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight": _f((640, 2048)),
        },
    ),
    "controlnet_flux_xlabs": _family(
        "controlnet",
        "flux1",
        {
            "controlnet_blocks.0.weight": _f((1,), "BF16"),
            "pos_embed_input.weight": _f((1,), "BF16"),
            "img_in.weight": _f((3072, 64), "BF16"),
            "double_blocks.0.img_attn.norm.key_norm.scale": _f((128,), "BF16"),
        },
        variant="bf16",
    ),
    # ---- CLIP vision
    "clip_vision_vit_h": _family(
        "clip_vision",
        "unknown",
        {
            "vision_model.embeddings.class_embedding": _f((1280,)),
            "vision_model.encoder.layers.0.self_attn.k_proj.weight": _f(),
            "vision_model.encoder.layers.31.self_attn.k_proj.weight": _f(),
            "vision_model.post_layernorm.weight": _f((1280,)),
            "visual_projection.weight": _f(),
        },
        subtype="vit_h",
    ),
    "clip_vision_vit_l": _family(
        "clip_vision",
        "unknown",
        {
            "vision_model.embeddings.class_embedding": _f((1024,)),
            "vision_model.encoder.layers.23.self_attn.k_proj.weight": _f(),
            "vision_model.post_layernorm.weight": _f((1024,)),
            "visual_projection.weight": _f(),
        },
        subtype="vit_l",
    ),
    "style_model_flux_redux": _family(
        "style_model", "flux1", {"redux_up.weight": _f(), "redux_down.weight": _f()}
    ),
    # ---- upscalers
    "esrgan_old": _family(
        "upscaler",
        "unknown",
        {
            "model.0.weight": _f((64, 3, 3, 3)),
            "model.1.sub.0.RDB1.conv1.0.weight": _f((32, 64, 3, 3)),
            "model.1.sub.22.RDB3.conv5.0.weight": _f(),
            "model.10.weight": _f(),
        },
        subtype="esrgan",
        variant="fp16",
    ),
    "esrgan_new": _family(
        "upscaler",
        "unknown",
        {
            "conv_first.weight": _f((64, 3, 3, 3), "F32"),
            "body.0.rdb1.conv1.weight": _f((32, 64, 3, 3), "F32"),
            "body.22.rdb3.conv5.weight": _f((1,), "F32"),
            "conv_last.weight": _f((1,), "F32"),
        },
        subtype="esrgan",
        variant="fp32",
    ),
    # ---- textual inversion
    "embedding_sd15": _family("embedding", "sd15", {"emb_params": _f((4, 768), "F32")}, variant="fp32"),
    "embedding_sd15_string_to_param": _family(
        "embedding", "sd15", {"string_to_param.*": _f((2, 768), "F32")}, variant="fp32"
    ),
    "embedding_sd2": _family("embedding", "sd2", {"emb_params": _f((4, 1024), "F32")}, variant="fp32"),
    "embedding_sdxl": _family(
        "embedding", "sdxl", {"clip_l": _f((4, 768), "F32"), "clip_g": _f((4, 1280), "F32")}, variant="fp32"
    ),
}


def write_family(path: Path | str, family_name: str) -> Path:
    """Write the family's tensors (and metadata) to ``path`` (a file or a folder: then its filename)."""
    fam = FAMILIES[family_name]
    path = Path(path)
    if path.is_dir():
        path = path / (fam["filename"] or f"{family_name}.safetensors")
    return write_safetensors(path, fam["tensors"], fam["metadata"] or None)


# ---------------------------------------------------------------------------------------------------- GGUF

GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16 = 0, 1, 2, 3
GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL = 4, 5, 6, 7
GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_UINT64, GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64 = 8, 9, 10, 11, 12

_GGUF_SCALAR = {
    GGUF_TYPE_UINT8: "<B",
    GGUF_TYPE_INT8: "<b",
    GGUF_TYPE_UINT16: "<H",
    GGUF_TYPE_INT16: "<h",
    GGUF_TYPE_UINT32: "<I",
    GGUF_TYPE_INT32: "<i",
    GGUF_TYPE_FLOAT32: "<f",
    GGUF_TYPE_BOOL: "<?",
    GGUF_TYPE_UINT64: "<Q",
    GGUF_TYPE_INT64: "<q",
    GGUF_TYPE_FLOAT64: "<d",
}
# ggml type -> (block elements, block bytes)
GGML_BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210), 30: (1, 2)}


def gguf_string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def _gguf_auto_type(value: Any) -> int:
    if isinstance(value, bool):
        return GGUF_TYPE_BOOL
    if isinstance(value, int):
        return GGUF_TYPE_UINT32 if 0 <= value < 2**32 else GGUF_TYPE_INT64
    if isinstance(value, float):
        return GGUF_TYPE_FLOAT32
    if isinstance(value, (str, bytes)):
        return GGUF_TYPE_STRING
    if isinstance(value, (list, tuple)):
        return GGUF_TYPE_ARRAY
    raise TypeError(f"no GGUF type for {value!r}")


def gguf_value(value: Any, vtype: int | None = None) -> bytes:
    """Encode a value WITHOUT its type tag (arrays: element type + count + elements)."""
    vtype = _gguf_auto_type(value) if vtype is None else vtype
    if vtype == GGUF_TYPE_STRING:
        return gguf_string(value)
    if vtype == GGUF_TYPE_ARRAY:
        items = list(value)
        etype = _gguf_auto_type(items[0]) if items else GGUF_TYPE_UINT8
        return struct.pack("<IQ", etype, len(items)) + b"".join(gguf_value(v, etype) for v in items)
    return struct.pack(_GGUF_SCALAR[vtype], value)


def gguf_kv(key: str, value: Any, vtype: int | None = None) -> bytes:
    vtype = _gguf_auto_type(value) if vtype is None else vtype
    return gguf_string(key) + struct.pack("<I", vtype) + gguf_value(value, vtype)


def gguf_bytes(
    arch: str = "flux",
    tensors: Mapping[str, tuple[int, tuple[int, ...]]] | None = None,
    kv: Mapping[str, Any] | None = None,
    *,
    version: int = 3,
    alignment: int = 32,
) -> bytes:
    """A valid GGUF file. ``tensors``: name -> (ggml type, torch-order shape); written in ggml order."""
    if tensors is None:
        tensors = {
            "img_in.weight": (1, (3072, 64)),
            "double_blocks.0.img_attn.norm.key_norm.scale": (0, (128,)),
            "double_blocks.0.img_attn.qkv.weight": (12, (512, 256)),
            "single_blocks.0.linear1.weight": (12, (256,)),
            "guidance_in.in_layer.weight": (8, (32,)),
        }
    pairs: dict[str, Any] = {"general.architecture": arch}
    pairs.update(kv or {})
    body = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(pairs)))
    for key, value in pairs.items():
        body += gguf_kv(key, value)
    offset = 0
    sizes = []
    for name, (ggml_type, shape) in tensors.items():
        dims = tuple(reversed(shape))
        block_elems, block_bytes = GGML_BLOCKS[ggml_type]
        numel = 1
        for d in dims:
            numel *= d
        size = -(-numel // block_elems) * block_bytes
        body += gguf_string(name) + struct.pack("<I", len(dims))
        body += b"".join(struct.pack("<Q", d) for d in dims)
        body += struct.pack("<IQ", ggml_type, offset)
        sizes.append(size)
        offset += size + (-size % alignment)
    body += bytes(-len(body) % alignment)
    body += bytes(offset)
    return bytes(body)


def write_gguf(
    path: Path | str,
    arch: str = "flux",
    tensors: Mapping[str, tuple[int, tuple[int, ...]]] | None = None,
    kv: Mapping[str, Any] | None = None,
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gguf_bytes(arch, tensors, kv))
    return path


# -------------------------------------------------------------------------------------------------- pickles


def write_pickle_ckpt(path: Path | str, state: Mapping[str, Any] | None = None) -> Path:
    """A torch-style zip checkpoint: ``archive/data.pkl`` holds pickle.dumps of a plain dict."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = (
        dict(state) if state is not None else {"state_dict": {"model.diffusion_model.out.2.bias": [0.0]}}
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/data/0", bytes(16))
    return path


def write_legacy_pickle(path: Path | str, protocol: int = 2) -> Path:
    """Raw pickle bytes (a pre-1.6 torch.save): starts 0x80 <protocol>."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"state_dict": {"a": [1.0, 2.0]}}, protocol=protocol))
    return path


class _FileCreator:
    """Pickles as ``open(target, "w")``: unpickling these bytes would create ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.target, "w"))


def malicious_pickle_bytes(target: Path | str, protocol: int = 2) -> bytes:
    """A pickle whose unpickling creates the file ``target``. Tests assert it never appears."""
    return pickle.dumps({"state_dict": _FileCreator(str(target))}, protocol=protocol)


def write_malicious_ckpt(path: Path | str, target: Path | str) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", malicious_pickle_bytes(target))
    return path


# ----------------------------------------------------------------------------------------- diffusers folder

_DIFFUSERS_COMPONENTS: dict[str, dict[str, tuple[str, str, str]]] = {
    # component -> (library, class, family whose tensors stand in for its weights)
    "StableDiffusionPipeline": {
        "unet": ("diffusers", "UNet2DConditionModel", "sdxl_lora_diffusers"),
        "vae": ("diffusers", "AutoencoderKL", "vae_sd15"),
        "text_encoder": ("transformers", "CLIPTextModel", "clip_l"),
    },
    "StableDiffusionXLPipeline": {
        "unet": ("diffusers", "UNet2DConditionModel", "sdxl_lora_diffusers"),
        "vae": ("diffusers", "AutoencoderKL", "vae_sdxl"),
        "text_encoder": ("transformers", "CLIPTextModel", "clip_l"),
        "text_encoder_2": ("transformers", "CLIPTextModelWithProjection", "clip_g"),
    },
    "FluxPipeline": {
        "transformer": ("diffusers", "FluxTransformer2DModel", "flux_lora_peft"),
        "vae": ("diffusers", "AutoencoderKL", "vae_flux"),
        "text_encoder": ("transformers", "CLIPTextModel", "clip_l"),
        "text_encoder_2": ("transformers", "T5EncoderModel", "t5xxl"),
    },
    "StableDiffusion3Pipeline": {
        "transformer": ("diffusers", "SD3Transformer2DModel", "flux_lora_peft"),
        "vae": ("diffusers", "AutoencoderKL", "vae_flux"),
        "text_encoder": ("transformers", "CLIPTextModelWithProjection", "clip_l"),
        "text_encoder_2": ("transformers", "CLIPTextModelWithProjection", "clip_g"),
        "text_encoder_3": ("transformers", "T5EncoderModel", "t5xxl"),
    },
}


def write_diffusers_folder(dir: Path | str, pipeline: str = "StableDiffusionXLPipeline") -> Path:
    """A Diffusers pipeline folder: model_index.json plus one subfolder per component with weights."""
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    components = _DIFFUSERS_COMPONENTS.get(pipeline, _DIFFUSERS_COMPONENTS["StableDiffusionXLPipeline"])
    index: dict[str, Any] = {"_class_name": pipeline, "_diffusers_version": "0.30.0"}
    for name, (library, cls, family) in components.items():
        index[name] = [library, cls]
        sub = root / name
        sub.mkdir(exist_ok=True)
        (sub / "config.json").write_text(json.dumps({"_class_name": cls}))
        weights = "diffusion_pytorch_model.safetensors" if library == "diffusers" else "model.safetensors"
        write_safetensors(sub / weights, FAMILIES[family]["tensors"])
    index["scheduler"] = ["diffusers", "EulerDiscreteScheduler"]
    (root / "scheduler").mkdir(exist_ok=True)
    (root / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": "EulerDiscreteScheduler"})
    )
    (root / "model_index.json").write_text(json.dumps(index, indent=2))
    return root


# --------------------------------------------------------------------------------------------- sharded sets


def shard_names(stem: str, n: int, style: str) -> list[str]:
    if style == "hf":
        return [f"{stem}-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    if style == "part":
        return [f"{stem}.part{i}.safetensors" for i in range(1, n + 1)]
    if style == "underscore":
        return [f"{stem}_{i:05d}_of_{n:05d}.safetensors" for i in range(1, n + 1)]
    raise ValueError(f"unknown shard style {style!r}: use hf, part or underscore")


def write_sharded_set(
    dir: Path | str, stem: str = "model", n: int = 3, style: str = "hf", family: str = "flux1_dev_diffusion"
) -> list[Path]:
    """Split a family's tensors over ``n`` shards; HF style also writes ``<stem>.safetensors.index.json``."""
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    names = shard_names(stem, n, style)
    items = list(FAMILIES[family]["tensors"].items())
    while len(items) < n:
        items.append((f"shard_pad.{len(items)}", _f()))
    parts: list[Tensors] = [{} for _ in range(n)]
    for i, (key, spec) in enumerate(items):
        parts[i % n][key] = spec
    paths = [write_safetensors(root / name, part) for name, part in zip(names, parts)]
    if style == "hf":
        weight_map = {key: names[i] for i, part in enumerate(parts) for key in part}
        total = sum(_nbytes(d, s) for part in parts for d, s in part.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (root / f"{stem}.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return paths


# ---------------------------------------------------------------------------------- hostile safetensors

HOSTILE_KINDS = (
    "length_max",
    "length_past_eof",
    "header_too_large",
    "too_short",
    "deep_nesting",
    "duplicate_keys",
    "metadata_not_string",
    "metadata_not_object",
    "offsets_gap",
    "offsets_overlap",
    "offsets_past_eof",
    "offsets_reversed",
    "offsets_not_from_zero",
    "trailing_bytes",
    "size_mismatch",
    "not_utf8",
    "not_object",
    "not_json",
    "unknown_dtype",
    "negative_shape",
    "bool_shape",
    "shape_overflow",
    "missing_field",
    "nan_offset",
    "lone_surrogate",
    "pickle_disguised",
)


def _raw(header: bytes, data: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def _hdr(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def hostile_safetensors(kind: str) -> bytes:
    """Bytes of a file a safetensors reader must reject (THREATS.md #9). ``kind`` from HOSTILE_KINDS."""
    one = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    if kind == "length_max":
        return struct.pack("<Q", 2**64 - 1) + b"{}"
    if kind == "length_past_eof":
        return _raw(_hdr(one), bytes(8), length=10_000)
    if kind == "header_too_large":
        return _raw(b"{}", length=100_000_001)
    if kind == "too_short":
        return b"\x02\x00\x00"
    if kind == "deep_nesting":
        return _raw(b'{"a":' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}")
    if kind == "duplicate_keys":
        entry = b'{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
        return _raw(b'{"w":' + entry + b',"w":' + entry + b"}", bytes(8))
    if kind == "metadata_not_string":
        return _raw(_hdr({"__metadata__": {"a": 1}, **one}), bytes(8))
    if kind == "metadata_not_object":
        return _raw(_hdr({"__metadata__": ["a"], **one}), bytes(8))
    if kind == "offsets_gap":
        h = {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]},
        }
        return _raw(_hdr(h), bytes(24))
    if kind == "offsets_overlap":
        h = {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        }
        return _raw(_hdr(h), bytes(12))
    if kind == "offsets_past_eof":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [2**20], "data_offsets": [0, 4 * 2**20]}}), bytes(8))
    if kind == "offsets_reversed":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}), bytes(8))
    if kind == "offsets_not_from_zero":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}), bytes(16))
    if kind == "trailing_bytes":
        return _raw(_hdr(one), bytes(8) + b"EXTRA")
    if kind == "size_mismatch":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), bytes(8))
    if kind == "not_utf8":
        return _raw(b'{"\xff\xfe": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytes(8))
    if kind == "not_object":
        return _raw(b'["w"]', b"")
    if kind == "not_json":
        return _raw(b"{this is not json}", b"")
    if kind == "unknown_dtype":
        return _raw(_hdr({"w": {"dtype": "F128", "shape": [2], "data_offsets": [0, 8]}}), bytes(8))
    if kind == "negative_shape":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}), bytes(8))
    if kind == "bool_shape":
        return _raw(_hdr({"w": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}), bytes(1))
    if kind == "shape_overflow":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 8]}}), bytes(8))
    if kind == "missing_field":
        return _raw(_hdr({"w": {"dtype": "F32", "shape": [2]}}), bytes(8))
    if kind == "nan_offset":
        return _raw(b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,NaN]}}', bytes(8))
    if kind == "lone_surrogate":
        return _raw(
            b'{"__metadata__":{"k":"\\ud800"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytes(8)
        )
    if kind == "pickle_disguised":
        return pickle.dumps({"state_dict": {"w": [1.0]}}, protocol=2)
    raise ValueError(f"unknown hostile kind {kind!r}: use one of {HOSTILE_KINDS}")


def zip_bytes(members: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ ComfyUI install


def comfyui_install(root: Path | str, *categories: str, version: str = "0.3.64") -> Path:
    """A ComfyUI install as the mapping reads one: ``comfyui_version.py`` and ``models/<category>/``."""
    root = Path(root)
    for category in categories or ("checkpoints",):
        (root / "models" / category).mkdir(parents=True, exist_ok=True)
    (root / "comfyui_version.py").write_text(f'__version__ = "{version}"\n')
    return root
