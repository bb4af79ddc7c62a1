"""Generator metadata: each tool's record written here, in that tool's documented layout, into
harmless generated pictures (all prompts are landscapes), then read back through the analyzer.
"""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from consentry.analyzers.provenance import ProvenanceAnalyzer, ProvenanceFinding
from consentry.analyzers.provenance.containers import png_text_chunks, xmp_digital_source_types
from consentry.analyzers.provenance.generators.automatic1111 import parse_a1111
from consentry.analyzers.provenance.generators.base import GeneratorMetadata
from consentry.analyzers.provenance.metadata import read_metadata
from consentry.analyzers.provenance.policy import SignalKind, Strength, Verdict
from consentry.analyzers.provenance.stealth import STEALTH_MAGICS, read_stealth
from tests.synthetic import photo_like

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"

A1111 = (
    "a lighthouse at dusk, oil painting, dramatic sky\n"
    "Negative prompt: blurry, low quality\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "sea: 0a1b2c3d4e5f", '
    "Version: v1.6.0"
)

COMFY_PROMPT = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["10", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 1024, "height": 1024, "batch_size": 1},
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a lighthouse at dusk", "clip": ["10", 1]},
    },
    "7": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "blurry, watermark", "clip": ["10", 1]},
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    "10": {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "coastal_style.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.8,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
    },
}

COMFY_WORKFLOW = {
    "last_node_id": 9,
    "last_link_id": 9,
    "nodes": [
        {
            "id": 4,
            "type": "CheckpointLoaderSimple",
            "widgets_values": ["v1-5-pruned-emaonly.safetensors"],
        },
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["a lighthouse at dusk"]},
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["blurry"]},
        {
            "id": 3,
            "type": "KSampler",
            "widgets_values": [42, "randomize", 20, 8, "euler", "normal", 1],
        },
    ],
    "links": [],
    "version": 0.4,
}

INVOKE_V3 = {
    "generation_mode": "txt2img",
    "positive_prompt": "a lighthouse at dusk",
    "negative_prompt": "blurry",
    "width": 512,
    "height": 512,
    "seed": 2911371522,
    "rand_device": "cpu",
    "cfg_scale": 7.5,
    "steps": 30,
    "scheduler": "euler",
    "model": {
        "key": "6f8a2c9e",
        "hash": "blake3:1f2e3d",
        "name": "stable-diffusion-v1-5",
        "base": "sd-1",
        "type": "main",
    },
    "app_version": "4.2.0",
}

INVOKE_V2 = {
    "model": "stable diffusion",
    "model_weights": "stable-diffusion-1.5",
    "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
    "app_id": "invoke-ai/InvokeAI",
    "app_version": "2.3.0",
    "image": {
        "prompt": [{"prompt": "a lighthouse at dusk [blurry]", "weight": 1.0}],
        "steps": 50,
        "cfg_scale": 7.5,
        "height": 512,
        "width": 512,
        "seed": 42,
        "type": "txt2img",
        "sampler": "k_lms",
    },
}

NOVELAI_COMMENT = {
    "prompt": "a lighthouse at dusk, scenery, no humans",
    "steps": 28,
    "height": 832,
    "width": 1216,
    "scale": 5.0,
    "uncond_scale": 1.0,
    "cfg_rescale": 0.0,
    "seed": 3382209911,
    "n_samples": 1,
    "noise_schedule": "karras",
    "sampler": "k_euler_ancestral",
    "v4_prompt": {
        "caption": {
            "base_caption": "a lighthouse at dusk, scenery, no humans",
            "char_captions": [],
        },
        "use_coords": False,
        "use_order": True,
    },
    "v4_negative_prompt": {"caption": {"base_caption": "lowres, blurry", "char_captions": []}},
    "uc": "lowres, blurry",
    "request_type": "PromptGenerateRequest",
    "signed_hash": "dGVzdCBzaWduZWQgaGFzaA==",
}

NOVELAI_TEXT = {
    "Title": "NovelAI generated image",
    "Description": "a lighthouse at dusk, scenery, no humans",
    "Software": "NovelAI",
    "Source": "NovelAI Diffusion V4.5 4BDE2A90",
    "Generation time": "6.1",
    "Comment": json.dumps(NOVELAI_COMMENT),
}

FOOOCUS = {
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689",
    "full_negative_prompt": ["blurry", "(worst quality, low quality:1.4)"],
    "full_prompt": ["a lighthouse at dusk", "cinematic, dramatic lighting"],
    "guidance_scale": 4,
    "negative_prompt": "blurry",
    "performance": "Speed",
    "prompt": "a lighthouse at dusk",
    "refiner_model": "None",
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "8420175619244916127",
    "sharpness": 2,
    "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Enhance']",
    "version": "Fooocus v2.3.1",
}


def png_with_text(texts: dict[str, str], mode: str = "RGB", seed: int = 4) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)  # tEXt when latin-1 fits, iTXt otherwise (as the tools do)
    buf = io.BytesIO()
    photo_like(seed, 320, 240).convert(mode).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_with_exif(
    user_comment: bytes | None = None, maker_note: bytes | None = None, **tags: str
) -> bytes:
    exif = Image.Exif()
    names = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131}
    for name, value in tags.items():
        exif[names[name]] = value
    ifd = exif.get_ifd(0x8769)
    if user_comment is not None:
        ifd[0x9286] = user_comment
    if maker_note is not None:
        ifd[0x927C] = maker_note
    buf = io.BytesIO()
    photo_like(5, 320, 240).save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def jpeg_with_xmp(packet: str) -> bytes:
    buf = io.BytesIO()
    photo_like(6, 320, 240).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


def xmp(attribute: str = "", element: str = "") -> str:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" {attribute}>{element}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def embed_stealth(pixels: np.ndarray, magic: str, payload: bytes) -> np.ndarray:
    """Write a stealth record the way NovelAI / stealth_pnginfo do: column-major LSBs."""
    mode, compressed = STEALTH_MAGICS[magic]
    body = gzip.compress(payload) if compressed else payload
    stream = magic.encode() + (len(body) * 8).to_bytes(4, "big") + body
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    out = pixels.copy()
    channels = out[:, :, 3:4] if mode == "alpha" else out[:, :, :3]
    flat = channels.transpose(1, 0, 2).reshape(-1).copy()  # x outer, y inner
    assert len(bits) <= len(flat), "picture too small for the payload"
    flat[: len(bits)] = (flat[: len(bits)] & 0xFE) | bits
    restored = flat.reshape(channels.shape[1], channels.shape[0], channels.shape[2]).transpose(
        1, 0, 2
    )
    if mode == "alpha":
        out[:, :, 3:4] = restored
    else:
        out[:, :, :3] = restored
    return out


def rgba_picture(seed: int = 8, size: tuple[int, int] = (256, 256)) -> np.ndarray:
    rgb = np.asarray(photo_like(seed, *size))
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def to_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def analyzer() -> ProvenanceAnalyzer:
    return ProvenanceAnalyzer.load()


def only_generator(finding: ProvenanceFinding, tool: str) -> GeneratorMetadata:
    assert finding.metadata is not None
    records = [g for g in finding.metadata.generators if g.tool == tool]
    assert len(records) == 1, finding.metadata
    assert finding.verdict is Verdict.INDICATED
    assert any(
        s.kind is SignalKind.GENERATOR_METADATA and s.strength is Strength.INDICATES
        for s in finding.signals
    )
    return records[0]


# --- each tool ---------------------------------------------------------------------------------
def test_automatic1111_png_parameters(analyzer: ProvenanceAnalyzer) -> None:
    finding = analyzer.analyze(png_with_text({"parameters": A1111}))
    record = only_generator(finding, "automatic1111")
    assert record.source == "png:parameters"
    assert record.prompts == ("a lighthouse at dusk, oil painting, dramatic sky",)
    assert record.negative_prompts == ("blurry, low quality",)
    assert record.seeds == (1234567890,)
    assert record.models == ("v1-5-pruned-emaonly",)
    assert record.model_hashes == ("6ce0161689",)
    assert record.sampler == "DPM++ 2M Karras"
    assert (record.steps, record.cfg_scale, record.size) == (20, 7.0, "512x768")
    assert record.software == "v1.6.0"
    assert ("Lora hashes", "sea: 0a1b2c3d4e5f") in record.settings  # quoted value unquoted
    assert finding.prompts == record.prompts and finding.seeds == (1234567890,)
    assert finding.model_names == ("v1-5-pruned-emaonly",)
    assert finding.generator_tools == ("automatic1111",)


def test_automatic1111_jpeg_exif_user_comment(analyzer: ProvenanceAnalyzer) -> None:
    # AUTOMATIC1111 saves JPEG/WebP infotext with piexif: "UNICODE\0" + UTF-16 big-endian
    data = jpeg_with_exif(user_comment=b"UNICODE\x00" + A1111.encode("utf-16-be"))
    record = only_generator(analyzer.analyze(data), "automatic1111")
    assert record.source == "exif:UserComment"
    assert record.seeds == (1234567890,)
    assert record.prompts[0].startswith("a lighthouse at dusk")


def test_comfyui_prompt_and_workflow(analyzer: ProvenanceAnalyzer) -> None:
    data = png_with_text(
        {"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(COMFY_WORKFLOW)}
    )
    record = only_generator(analyzer.analyze(data), "comfyui")
    assert record.prompts == ("a lighthouse at dusk",)
    assert record.negative_prompts == ("blurry, watermark",)
    assert record.seeds == (156680208700286,)
    assert record.models == ("sd_xl_base_1.0.safetensors",)
    assert record.loras == ("coastal_style.safetensors",)
    assert (record.sampler, record.steps, record.cfg_scale) == ("euler", 20, 8.0)


def test_comfyui_workflow_only(analyzer: ProvenanceAnalyzer) -> None:
    record = only_generator(
        analyzer.analyze(png_with_text({"workflow": json.dumps(COMFY_WORKFLOW)})), "comfyui"
    )
    assert set(record.prompts) == {"a lighthouse at dusk", "blurry"}  # roles not in the UI graph
    assert record.models == ("v1-5-pruned-emaonly.safetensors",)
    assert record.seeds == (42,)


def test_comfyui_webp_exif(analyzer: ProvenanceAnalyzer) -> None:
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps(COMFY_WORKFLOW)
    exif[0x0110] = "prompt:" + json.dumps(COMFY_PROMPT)
    buf = io.BytesIO()
    photo_like(9, 320, 240).save(buf, "WEBP", lossless=True, exif=exif.tobytes())
    finding = analyzer.analyze(buf.getvalue())
    record = only_generator(finding, "comfyui")
    assert record.source == "exif:Make/Model"
    assert record.seeds == (156680208700286,)
    assert finding.metadata is not None and finding.metadata.camera_make is None


def test_invokeai_v3_metadata(analyzer: ProvenanceAnalyzer) -> None:
    data = png_with_text({"invokeai_metadata": json.dumps(INVOKE_V3)})
    record = only_generator(analyzer.analyze(data), "invokeai")
    assert record.prompts == ("a lighthouse at dusk",)
    assert record.negative_prompts == ("blurry",)
    assert record.seeds == (2911371522,)
    assert record.models == ("stable-diffusion-v1-5",)
    assert record.model_hashes == ("blake3:1f2e3d",)
    assert (record.steps, record.cfg_scale, record.size) == (30, 7.5, "512x512")
    assert record.software == "4.2.0"


def test_invokeai_v2_sd_metadata_and_dream(analyzer: ProvenanceAnalyzer) -> None:
    dream = '"a lighthouse at dusk [blurry]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'
    data = png_with_text({"sd-metadata": json.dumps(INVOKE_V2), "Dream": dream})
    record = only_generator(analyzer.analyze(data), "invokeai")
    assert record.source.endswith("sd-metadata")
    assert record.prompts == ("a lighthouse at dusk [blurry]",)
    assert record.seeds == (42,)
    assert record.models == ("stable-diffusion-1.5",)
    dream_only = only_generator(analyzer.analyze(png_with_text({"Dream": dream})), "invokeai")
    assert dream_only.seeds == (42,) and dream_only.prompts == ("a lighthouse at dusk [blurry]",)


def test_novelai_png_text(analyzer: ProvenanceAnalyzer) -> None:
    finding = analyzer.analyze(png_with_text(NOVELAI_TEXT))
    record = only_generator(finding, "novelai")
    assert record.prompts == ("a lighthouse at dusk, scenery, no humans",)
    assert record.negative_prompts == ("lowres, blurry",)
    assert record.seeds == (3382209911,)
    assert record.models == ("NovelAI Diffusion V4.5 4BDE2A90",)
    assert (record.steps, record.cfg_scale, record.size) == (28, 5.0, "1216x832")
    assert ("signed_hash", "dGVzdCBzaWduZWQgaGFzaA==") in record.settings
    # the PNG Software field names a generator as well
    assert finding.metadata is not None and finding.metadata.generator_software == ("NovelAI",)


def test_novelai_alpha_stealth_pngcomp(analyzer: ProvenanceAnalyzer) -> None:
    """NovelAI's copy in the alpha channel survives when the text chunks are stripped."""
    payload = json.dumps(NOVELAI_TEXT).encode()
    data = to_png(embed_stealth(rgba_picture(), "stealth_pngcomp", payload))
    finding = analyzer.analyze(data)
    assert finding.metadata is not None and finding.metadata.generators == ()  # no text chunks
    assert finding.stealth is not None
    assert (finding.stealth.magic, finding.stealth.mode) == ("stealth_pngcomp", "alpha")
    assert finding.stealth.compressed and not finding.stealth.truncated
    assert finding.verdict is Verdict.INDICATED
    (signal,) = [s for s in finding.signals if s.kind is SignalKind.STEALTH_METADATA]
    assert signal.strength is Strength.INDICATES and "NovelAI" in signal.detail
    assert finding.seeds == (3382209911,)
    assert finding.generator_tools == ("novelai",)
    assert "a lighthouse at dusk, scenery, no humans" in finding.prompts


@pytest.mark.parametrize("magic", ["stealth_pnginfo", "stealth_rgbinfo", "stealth_rgbcomp"])
def test_stealth_pnginfo_variants_with_a1111_text(analyzer: ProvenanceAnalyzer, magic: str) -> None:
    pixels = rgba_picture(seed=12)
    if STEALTH_MAGICS[magic][0] == "rgb":
        pixels = np.ascontiguousarray(pixels[:, :, :3])
    finding = analyzer.analyze(to_png(embed_stealth(pixels, magic, A1111.encode())))
    assert finding.stealth is not None and finding.stealth.magic == magic
    assert finding.seeds == (1234567890,)
    assert finding.generator_tools == ("automatic1111",)
    assert finding.verdict is Verdict.INDICATED


def test_lossy_copy_loses_the_stealth_text(analyzer: ProvenanceAnalyzer) -> None:
    stealthy = embed_stealth(rgba_picture(), "stealth_pngcomp", json.dumps(NOVELAI_TEXT).encode())
    buf = io.BytesIO()
    Image.fromarray(stealthy[:, :, :3]).save(buf, "JPEG", quality=95)
    finding = analyzer.analyze(buf.getvalue())
    assert finding.stealth is None and finding.verdict is Verdict.NO_SIGNAL
    check = next(c for c in finding.checks if c.name == "stealth")
    assert check.status.value == "not_checked"


def test_fooocus_png_json(analyzer: ProvenanceAnalyzer) -> None:
    data = png_with_text({"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"})
    record = only_generator(analyzer.analyze(data), "fooocus")
    assert record.prompts[0] == "a lighthouse at dusk"
    assert "cinematic, dramatic lighting" in record.prompts
    assert record.negative_prompts[0] == "blurry"
    assert record.seeds == (8420175619244916127,)
    assert record.models == ("juggernautXL_v8Rundiffusion.safetensors",)  # "None" refiner dropped
    assert record.model_hashes == ("aeb7e9e689",)
    assert record.software == "Fooocus v2.3.1"


def test_fooocus_a1111_scheme_in_jpeg(analyzer: ProvenanceAnalyzer) -> None:
    text = A1111.replace("Version: v1.6.0", "Version: Fooocus v2.3.1")
    data = jpeg_with_exif(user_comment=text.encode(), maker_note=b"a1111")
    record = only_generator(analyzer.analyze(data), "fooocus")
    assert record.seeds == (1234567890,)


# --- EXIF and XMP --------------------------------------------------------------------------------
def test_xmp_trained_algorithmic_media_in_jpeg(analyzer: ProvenanceAnalyzer) -> None:
    attribute = (
        f'Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia" '
        'xmp:CreatorTool="Lighthouse Painter 1.0"'
    )
    finding = analyzer.analyze(jpeg_with_xmp(xmp(attribute=attribute)))
    assert finding.metadata is not None
    assert finding.metadata.digital_source_types == ("trainedAlgorithmicMedia",)
    assert "Lighthouse Painter 1.0" in finding.metadata.software
    assert finding.digital_source_types == ("trainedAlgorithmicMedia",)
    assert finding.verdict is Verdict.INDICATED
    (signal,) = [s for s in finding.signals if s.kind is SignalKind.XMP_SOURCE_TYPE]
    assert signal.strength is Strength.INDICATES and "unsigned" in signal.detail


def test_xmp_composite_element_form_and_png_itxt(analyzer: ProvenanceAnalyzer) -> None:
    element = (
        f"<Iptc4xmpExt:DigitalSourceType>{IPTC}compositeWithTrainedAlgorithmicMedia"
        "</Iptc4xmpExt:DigitalSourceType>"
    )
    data = png_with_text({"XML:com.adobe.xmp": xmp(element=element)})
    finding = analyzer.analyze(data)
    assert finding.digital_source_types == ("compositeWithTrainedAlgorithmicMedia",)
    assert finding.verdict is Verdict.INDICATED


def test_xmp_capture_claim_is_context_not_real(analyzer: ProvenanceAnalyzer) -> None:
    attribute = f'Iptc4xmpExt:DigitalSourceType="{IPTC}digitalCapture"'
    finding = analyzer.analyze(jpeg_with_xmp(xmp(attribute=attribute)))
    assert finding.digital_source_types == ("digitalCapture",)
    assert finding.verdict is Verdict.NO_SIGNAL
    assert [s.strength for s in finding.signals] == [Strength.CONTEXT]


def test_exif_software_naming_a_generator(analyzer: ProvenanceAnalyzer) -> None:
    finding = analyzer.analyze(jpeg_with_exif(Software="Adobe Firefly 3"))
    assert finding.metadata is not None
    assert finding.metadata.generator_software == ("Adobe Firefly 3",)
    assert finding.verdict is Verdict.INDICATED


def test_camera_exif_is_recorded_but_is_no_signal(analyzer: ProvenanceAnalyzer) -> None:
    finding = analyzer.analyze(
        jpeg_with_exif(Make="Canon", Model="Canon EOS R6", Software="Adobe Lightroom 7.0")
    )
    assert finding.metadata is not None
    assert (finding.metadata.camera_make, finding.metadata.camera_model) == (
        "Canon",
        "Canon EOS R6",
    )
    assert finding.metadata.software == ("Adobe Lightroom 7.0",)
    assert finding.signals == () and finding.verdict is Verdict.NO_SIGNAL


def test_unknown_parameters_text_is_context(analyzer: ProvenanceAnalyzer) -> None:
    finding = analyzer.analyze(png_with_text({"parameters": "just a caption"}))
    assert finding.metadata is not None and finding.metadata.generators == ()
    assert finding.verdict is Verdict.NO_SIGNAL
    assert [s.kind for s in finding.signals] == [SignalKind.METADATA_UNPARSED]


def test_text_after_the_image_data_and_compressed_chunks_are_read() -> None:
    data = png_with_text({})
    iend = data.rindex(b"IEND") - 4
    body = b"parameters\x00\x00" + __import__("zlib").compress(A1111.encode())
    chunk = len(body).to_bytes(4, "big") + b"zTXt" + body + b"\x00\x00\x00\x00"  # CRC unchecked
    patched = data[:iend] + chunk + data[iend:]
    metadata = read_metadata(patched)
    assert [g.tool for g in metadata.generators] == ["automatic1111"]


def test_xmp_source_type_forms() -> None:
    assert xmp_digital_source_types(
        f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC}trainedAlgorithmicMedia"/>'
    ) == ["trainedAlgorithmicMedia"]
    assert xmp_digital_source_types(
        "<Iptc4xmpExt:DigitalSourceType>trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>"
    ) == ["trainedAlgorithmicMedia"]


def test_a1111_parser_refuses_ordinary_text() -> None:
    assert parse_a1111("a lighthouse at dusk", "t") is None
    assert parse_a1111("Title: a, Author: b, Date: c", "t") is None
    assert parse_a1111("", "t") is None


# --- robustness ----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_read_metadata_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    read_metadata(data)
    read_metadata(b"\x89PNG\r\n\x1a\n" + data)
    read_metadata(b"\xff\xd8\xff\xe1" + data)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_a1111_parser_never_raises(text: str) -> None:
    record = parse_a1111(text, "t")
    assert record is None or record.tool == "automatic1111"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(STEALTH_MAGICS)),
    st.text(min_size=1, max_size=300),
    st.integers(min_value=40, max_value=90),
    st.integers(min_value=30, max_value=90),
)
def test_stealth_round_trip(magic: str, text: str, height: int, width: int) -> None:
    pixels = np.random.default_rng(height * width).integers(0, 256, (height, width, 4), np.uint8)
    if STEALTH_MAGICS[magic][0] == "rgb":
        pixels = np.ascontiguousarray(pixels[:, :, :3])
    capacity = height * width * (1 if STEALTH_MAGICS[magic][0] == "alpha" else 3)
    payload = text.encode()
    body = gzip.compress(payload) if STEALTH_MAGICS[magic][1] else payload
    assume((len(magic) + 4 + len(body)) * 8 <= capacity)
    found = read_stealth(embed_stealth(pixels, magic, payload))
    assert found is not None and found.text == text and found.magic == magic


def test_random_alpha_has_no_stealth_text() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 4), np.uint8)
    assert read_stealth(pixels) is None


def test_png_text_chunks_stop_at_truncation() -> None:
    data = png_with_text({"parameters": A1111})
    chunks, _, problems = png_text_chunks(data[: len(data) // 2])
    assert problems  # truncation is reported, not raised
    assert isinstance(chunks, list)
