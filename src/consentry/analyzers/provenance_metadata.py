"""What image-generation tools write into the files they save: prompts, seeds, models, software.

Read straight from the file's bytes, without decoding pixels (except the stealth reader below):

- **PNG text chunks** (``tEXt``, ``zTXt``, ``iTXt``, walked here so chunks after the image data
  count too) carry AUTOMATIC1111's ``parameters`` text, ComfyUI's ``prompt`` (API graph) and
  ``workflow`` (UI graph) JSON, InvokeAI's ``invokeai_metadata`` (3.x+), ``sd-metadata`` and
  ``Dream`` (2.x), NovelAI's ``Software``/``Description``/``Source``/``Comment`` and Fooocus's
  ``fooocus_scheme`` + ``parameters`` JSON.
- **EXIF** ``UserComment`` (AUTOMATIC1111 and Fooocus in JPEG/WebP; Fooocus puts its scheme in
  ``MakerNote``), ``Make``/``Model`` (ComfyUI's WebP writer stores ``workflow:{...}`` and
  ``prompt:{...}`` there), ``Software``.
- **XMP** (IPTC Extension) ``DigitalSourceType`` such as ``trainedAlgorithmicMedia`` and
  ``CreatorTool``. XMP is read with regular expressions over the packet, not an XML parser:
  nothing here expands entities, so a hostile packet cannot blow up memory.
- **Stealth text** in pixel least-significant bits (``read_stealth``): NovelAI writes its metadata
  gzip-compressed into the alpha channel's LSBs behind the magic ``stealth_pngcomp``; the
  ``stealth_pnginfo`` extension for AUTOMATIC1111 writes ``stealth_pnginfo`` (plain) or
  ``stealth_rgbinfo``/``stealth_rgbcomp`` (in the R, G, B LSBs). Layout (NovelAI's published
  ``nai_meta.py`` and the extension agree): pixels in column-major order (x outer, y inner), one
  bit per pixel (three for RGB), most significant bit first; 15-byte magic, a 32-bit big-endian
  payload length *in bits*, then the payload. Survives only lossless saving.

All of this is **unsigned text**: anyone can write it into any file and any editor can strip it.
It indicates a tool was involved; it proves nothing, and its absence proves nothing either.

Sizes are bounded (decompressed chunk text, stealth payload, each stored string) so that a
hostile file cannot make the scan allocate without limit. Parsers never raise on bad input: what
cannot be parsed becomes a ``problems`` entry.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from consentry.media.decode import PNG_TEXT_CHUNK_BYTES, PNG_TEXT_FILE_BYTES

# --- limits ----------------------------------------------------------------------------------
# decompressed bytes kept from one PNG text chunk / stealth payload, and from all of a file's text
# chunks: the limits the decoder applies too (imaging), so a PNG over them is also marked
# ``metadata_too_large`` on its content. Without the per-file one, a 4 MB PNG of zlib-bomb zTXt
# chunks made the scan hold 4 GB of text.
MAX_CHUNK_TEXT = PNG_TEXT_CHUNK_BYTES
MAX_TEXT_PER_FILE = PNG_TEXT_FILE_BYTES
MAX_PNG_CHUNKS = 100_000  # a PNG with more chunks than this is hostile; stop walking
MAX_STRING = 8192  # characters kept of one prompt or stated value (the rest is cut, marked "…")
MAX_SETTINGS = 200  # key/value pairs kept per generator record
MAX_XMP = 1 << 20  # bytes of one XMP packet examined

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STEALTH_MAGICS = {
    # magic: (channel mode, gzip-compressed)
    "stealth_pnginfo": ("alpha", False),
    "stealth_pngcomp": ("alpha", True),
    "stealth_rgbinfo": ("rgb", False),
    "stealth_rgbcomp": ("rgb", True),
}
_MAGIC_BITS = 15 * 8

# IPTC NewsCodes digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/) that
# say a trained model made or changed the picture. Others (digitalCapture, algorithmicMedia, ...)
# are recorded but are not AI claims.
AI_SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "created by a trained algorithm (generative AI)",
    "compositeWithTrainedAlgorithmicMedia": "composite including generative-AI elements",
}

# Software names of image generators, as tools write them in EXIF/PNG ``Software``, XMP
# ``CreatorTool`` or a C2PA claim generator. Word-bounded and conservative: a name that is also
# an ordinary word or another product (e.g. "Flux", "Imagen") is left out.
GENERATOR_SOFTWARE = re.compile(
    r"\b(NovelAI|Midjourney|DALL[\s\-·・]?E|Stable[\s\-]?Diffusion|ComfyUI|InvokeAI|Fooocus|"
    r"AUTOMATIC1111|Adobe\s+Firefly|DreamStudio|Leonardo\.Ai|NightCafe|Craiyon)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class GeneratorMetadata:
    """One generator's record as found in the file: what was stated, nothing inferred."""

    tool: str  # automatic1111 | comfyui | invokeai | novelai | fooocus
    source: str  # where it was found, e.g. "png:parameters", "exif:UserComment"
    prompts: tuple[str, ...] = ()
    negative_prompts: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    models: tuple[str, ...] = ()  # checkpoint / model names as stated
    model_hashes: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()
    sampler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    size: str | None = None
    software: str | None = None  # the tool's own version string, when stated
    settings: tuple[tuple[str, str], ...] = ()  # remaining stated key/value pairs


@dataclass(frozen=True)
class StealthText:
    """Text hidden in pixel LSBs (NovelAI / stealth_pnginfo)."""

    magic: str
    mode: str  # alpha | rgb
    compressed: bool
    text: str
    truncated: bool = False


@dataclass(frozen=True)
class FileMetadata:
    """Generator-relevant metadata read from one file's bytes."""

    generators: tuple[GeneratorMetadata, ...] = ()
    software: tuple[str, ...] = ()  # EXIF/PNG Software, XMP CreatorTool, as stated
    generator_software: tuple[str, ...] = ()  # those of ``software`` naming a known generator
    camera_make: str | None = None
    camera_model: str | None = None
    digital_source_types: tuple[str, ...] = ()  # XMP Iptc4xmpExt:DigitalSourceType codes
    text_keys: tuple[str, ...] = ()  # PNG text chunk keywords present
    problems: tuple[str, ...] = ()


# --- entry point -----------------------------------------------------------------------------
def read_metadata(data: bytes) -> FileMetadata:
    """All generator-relevant metadata in ``data`` (any image format). Never raises."""
    problems: list[str] = []
    texts: dict[str, str] = {}
    exif_bytes: bytes | None = None
    is_png = data.startswith(PNG_SIGNATURE)
    if is_png:
        chunks, exif_bytes, chunk_problems = png_text_chunks(data)
        problems += chunk_problems
        for key, value in chunks:
            texts.setdefault(key, value)  # first occurrence wins, as Pillow's .info does
    exif = _read_exif(data, exif_bytes, problems)
    comment = None if is_png else _jpeg_comment(data)

    generators: list[GeneratorMetadata] = []
    generators += _from_png_texts(texts, problems)
    generators += _from_exif(exif, problems)
    if comment and (record := parse_a1111(comment, "jpeg:COM")) is not None:
        generators.append(record)

    xmp_packets = [texts[k] for k in texts if k == "XML:com.adobe.xmp"] + _xmp_packets(data)
    source_types: list[str] = []
    creator_tools: list[str] = []
    for packet in xmp_packets:
        source_types += xmp_digital_source_types(packet)
        creator_tools += _xmp_values(packet, "CreatorTool")

    software = _unique(
        [exif.get("Software", ""), texts.get("Software", ""), *creator_tools], limit=20
    )
    return FileMetadata(
        generators=tuple(generators),
        software=software,
        generator_software=tuple(s for s in software if GENERATOR_SOFTWARE.search(s)),
        camera_make=_clip(exif["Make"]) if _plain_text(exif.get("Make")) else None,
        camera_model=_clip(exif["Model"]) if _plain_text(exif.get("Model")) else None,
        digital_source_types=_unique(source_types, limit=20),
        text_keys=tuple(sorted(texts))[:100],
        problems=tuple(problems[:50]),
    )


# --- PNG chunks ------------------------------------------------------------------------------
def png_text_chunks(data: bytes) -> tuple[list[tuple[str, str]], bytes | None, list[str]]:
    """(keyword, text) of every tEXt/zTXt/iTXt chunk, the eXIf chunk, and problems met."""
    out: list[tuple[str, str]] = []
    problems: list[str] = []
    exif: bytes | None = None
    pos = len(PNG_SIGNATURE)
    budget = MAX_TEXT_PER_FILE  # decompressed text bytes still to be kept from this file
    over_budget = False
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 8 > len(data):
            problems.append("png: file ends before IEND")
            break
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            problems.append(f"png: {ctype!r} chunk truncated")
            break
        pos += 12 + length
        if ctype in (b"tEXt", b"zTXt", b"iTXt") and budget <= 0:
            over_budget = True  # said once below; not inflated
            continue
        try:
            if ctype == b"tEXt":
                key, _, value = body.partition(b"\x00")
                over_budget |= len(value) > budget
                value = value[:budget]
                budget -= len(value)
                out.append((key.decode("latin-1"), value.decode("latin-1")))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                raw = _inflate(rest[1:], limit=min(MAX_CHUNK_TEXT, budget + 1))
                over_budget |= len(raw) > budget
                raw = raw[:budget]
                budget -= len(raw)
                out.append((key.decode("latin-1"), raw.decode("latin-1")))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _translated, _, text = rest.partition(b"\x00")
                raw = _inflate(text, limit=min(MAX_CHUNK_TEXT, budget + 1)) if compressed else text
                over_budget |= len(raw) > budget
                raw = raw[:budget]
                budget -= len(raw)
                out.append((key.decode("latin-1"), raw.decode("utf-8", "replace")))
            elif ctype == b"eXIf":
                exif = body
            elif ctype == b"IEND":
                break
        except (zlib.error, IndexError, ValueError) as exc:
            problems.append(f"png: unreadable {ctype.decode('latin-1')} chunk: {exc}")
    if over_budget:
        problems.append(
            f"png: text chunks exceed {MAX_TEXT_PER_FILE:,} bytes (metadata_too_large): "
            "the rest was not read"
        )
    return out, exif, problems


def _inflate(raw: bytes, gzip: bool = False, limit: int = MAX_CHUNK_TEXT) -> bytes:
    """Decompress at most ``limit`` bytes (a zlib bomb stops there)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
    return inflater.decompress(raw, max(1, limit))


# --- EXIF, JPEG comment, XMP -----------------------------------------------------------------
_EXIF_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software"}
_EXIF_IFD_TAGS = {0x9286: "UserComment", 0x927C: "MakerNote"}


def _read_exif(data: bytes, png_exif: bytes | None, problems: list[str]) -> dict[str, str]:
    from PIL import Image

    out: dict[str, str] = {}
    try:
        if data.startswith(PNG_SIGNATURE):
            if png_exif is None:
                return out
            exif = Image.Exif()
            exif.load(png_exif)
        else:
            with Image.open(io.BytesIO(data)) as img:  # header only: no pixels decoded
                exif = img.getexif()
        values: list[tuple[str, Any]] = [
            (name, exif.get(tag)) for tag, name in _EXIF_TAGS.items() if tag in exif
        ]
        ifd = exif.get_ifd(0x8769)
        values += [(name, ifd.get(tag)) for tag, name in _EXIF_IFD_TAGS.items() if tag in ifd]
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on broken EXIF
        problems.append(f"exif: unreadable: {type(exc).__name__}: {exc}")
        return out
    for name, value in values:
        text = _exif_text(value) if name in ("UserComment", "MakerNote") else value
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str):
            out[name] = text.strip("\x00 ")
    return out


def _exif_text(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset header, then the text (UTF-16 for UNICODE)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        return None
    head, body = value[:8], value[8:]
    if head == b"UNICODE\x00":
        # byte order is not stated; piexif (AUTOMATIC1111) writes big-endian. Pick the decoding
        # that yields the more plausible (ASCII-range) text.
        candidates = [body.decode(enc, "replace") for enc in ("utf-16-be", "utf-16-le")]
        return max(candidates, key=lambda s: sum(32 <= ord(c) < 127 for c in s))
    if head in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return body.decode("utf-8", "replace")
    return value.decode("utf-8", "replace")


def _jpeg_comment(data: bytes) -> str | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            comment = img.info.get("comment")
    except Exception:  # noqa: BLE001
        return None
    if isinstance(comment, bytes):
        return comment.decode("utf-8", "replace")
    return comment if isinstance(comment, str) else None


def _xmp_packets(data: bytes) -> list[str]:
    """Uncompressed XMP packets anywhere in the file (JPEG APP1, WebP, TIFF, HEIF, PNG iTXt)."""
    packets: list[str] = []
    start = data.find(b"<x:xmpmeta")
    while start != -1 and len(packets) < 8:
        end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP)
        stop = end + len(b"</x:xmpmeta>") if end != -1 else start + MAX_XMP
        packets.append(data[start:stop].decode("utf-8", "replace"))
        start = data.find(b"<x:xmpmeta", stop)
    return packets


_SOURCE_TYPE_URI = re.compile(r"digitalsourcetype/([A-Za-z]+)")
_SOURCE_TYPE_TEXT = re.compile(r"DigitalSourceType[^>]*>\s*([A-Za-z]+)\s*<")


def xmp_digital_source_types(packet: str) -> list[str]:
    """IPTC DigitalSourceType codes stated in an XMP packet (attribute, element or resource)."""
    found = []
    for match in re.finditer(r"DigitalSourceType", packet):
        window = packet[match.start() : match.start() + 400]
        if (uri := _SOURCE_TYPE_URI.search(window)) is not None:
            found.append(uri.group(1))
        elif (text := _SOURCE_TYPE_TEXT.match(window)) is not None:
            found.append(text.group(1))
    return found


def _xmp_values(packet: str, name: str) -> list[str]:
    pattern = rf'(?:\w+:)?{name}\s*=\s*"([^"]*)"|<(?:\w+:)?{name}>([^<]*)<'
    return [_clip(a or b) for a, b in re.findall(pattern, packet) if (a or b).strip()]


# --- generator records from PNG text and EXIF ------------------------------------------------
def _from_png_texts(texts: Mapping[str, str], problems: list[str]) -> list[GeneratorMetadata]:
    out: list[GeneratorMetadata] = []
    lower = {k.lower(): k for k in texts}

    def get(name: str) -> str | None:
        key = lower.get(name.lower())
        return texts[key] if key is not None else None

    parameters = get("parameters")
    scheme = (get("fooocus_scheme") or "").strip().lower()
    if parameters is not None:
        record = parse_parameters(parameters, "png:parameters", scheme)
        if record is None:
            problems.append("png:parameters present but not in a known generator format")
        else:
            out.append(record)
    comfy = parse_comfyui(get("prompt"), get("workflow"), "png:prompt/workflow", problems)
    if comfy is not None:
        out.append(comfy)
    invoke = parse_invokeai(
        get("invokeai_metadata"), get("sd-metadata"), get("Dream"), "png:invokeai", problems
    )
    if invoke is not None:
        out.append(invoke)
    if (novelai := parse_novelai(texts, "png:text", problems)) is not None:
        out.append(novelai)
    return out


def _from_exif(exif: Mapping[str, str], problems: list[str]) -> list[GeneratorMetadata]:
    out: list[GeneratorMetadata] = []
    comment = exif.get("UserComment")
    if comment:
        scheme = (exif.get("MakerNote") or "").strip().lower()
        record = parse_parameters(comment, "exif:UserComment", scheme if len(scheme) < 20 else "")
        if record is not None:
            out.append(record)
    # ComfyUI's WebP/animated writers: Make = "workflow:{json}", Model = "prompt:{json}"
    prompt = workflow = None
    for name in ("Make", "Model", "ImageDescription"):
        value = exif.get(name, "")
        if value.startswith("prompt:"):
            prompt = value[len("prompt:") :]
        elif value.startswith("workflow:"):
            workflow = value[len("workflow:") :]
    if (prompt or workflow) and (
        comfy := parse_comfyui(prompt, workflow, "exif:Make/Model", problems)
    ) is not None:
        out.append(comfy)
    return out


def parse_parameters(text: str, source: str, scheme: str = "") -> GeneratorMetadata | None:
    """A ``parameters`` value: Fooocus JSON, or AUTOMATIC1111's text format (also Fooocus's)."""
    data = _json_object(text)
    if data is not None:
        return parse_fooocus(data, source) if _looks_fooocus(data, scheme) else None
    record = parse_a1111(text, source)
    if record is not None and (scheme == "a1111" or "fooocus" in (record.software or "").lower()):
        record = _replace_tool(record, "fooocus")
    return record


# AUTOMATIC1111 modules/infotext_utils.py ``re_param``: `key: value` pairs, values may be quoted
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_A1111_KEYS = {"steps", "sampler", "seed", "cfg scale", "size", "model", "model hash"}


def parse_a1111(text: str, source: str) -> GeneratorMetadata | None:
    """AUTOMATIC1111's infotext: prompt lines, ``Negative prompt:`` lines, a last line of
    ``Key: value`` pairs (``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, ...``)."""
    lines = text.strip().split("\n")
    if not lines:
        return None
    pairs = [(k.strip(), _unquote(v.strip())) for k, v in _A1111_PARAM.findall(lines[-1])]
    if len(pairs) < 3 or len({k.lower() for k, _ in pairs} & _A1111_KEYS) < 2:
        return None  # not infotext: refuse rather than guess
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    params = dict(pairs)
    models = [params[k] for k in ("Model", "Refiner") if params.get(k)]
    hashes = [params[k] for k in ("Model hash",) if params.get(k)]
    seeds = [s for s in (_int(params.get("Seed")),) if s is not None]
    used = {"Model", "Model hash", "Seed", "Sampler", "Steps", "CFG scale", "Size", "Version"}
    return GeneratorMetadata(
        tool="automatic1111",
        source=source,
        prompts=_texts(["\n".join(prompt).strip()]),
        negative_prompts=_texts(["\n".join(negative).strip()]),
        seeds=tuple(seeds),
        models=_texts(models),
        model_hashes=_texts(hashes),
        loras=_texts(re.findall(r"<lora:([^:>]+)", "\n".join(prompt))),
        sampler=_opt(params.get("Sampler")),
        steps=_int(params.get("Steps")),
        cfg_scale=_float(params.get("CFG scale")),
        size=_opt(params.get("Size")),
        software=_opt(params.get("Version")),
        settings=_settings((k, v) for k, v in pairs if k not in used),
    )


def _looks_fooocus(data: Mapping[str, Any], scheme: str) -> bool:
    return scheme == "fooocus" or any(
        k in data for k in ("full_prompt", "base_model", "fooocus_v2_expansion")
    )


def parse_fooocus(data: Mapping[str, Any], source: str) -> GeneratorMetadata:
    """Fooocus's own scheme (``modules/meta_parser.py`` FooocusMetadataParser): flat JSON."""
    prompts = [data.get("prompt")] + list(_as_list(data.get("full_prompt")))
    negatives = [data.get("negative_prompt")] + list(_as_list(data.get("full_negative_prompt")))
    models = [data.get("base_model"), data.get("refiner_model")]
    loras = [v for k, v in data.items() if str(k).startswith("lora_combined_")]
    used = {"prompt", "full_prompt", "negative_prompt", "full_negative_prompt", "base_model"}
    used |= {"refiner_model", "seed", "sampler", "steps", "guidance_scale", "resolution"}
    used |= {"version", "base_model_hash"}
    return GeneratorMetadata(
        tool="fooocus",
        source=source,
        prompts=_texts(prompts),
        negative_prompts=_texts(negatives),
        seeds=tuple(s for s in (_int(data.get("seed")),) if s is not None),
        models=_texts(m for m in models if m not in (None, "None")),
        model_hashes=_texts([data.get("base_model_hash")]),
        loras=_texts(loras),
        sampler=_opt(data.get("sampler")),
        steps=_int(data.get("steps")),
        cfg_scale=_float(data.get("guidance_scale")),
        size=_opt(data.get("resolution")),
        software=_opt(data.get("version")),
        settings=_settings((k, v) for k, v in data.items() if k not in used),
    )


# ComfyUI node inputs that name model files (checkpoints, UNETs, LoRAs, VAEs, ...)
_COMFY_MODEL_INPUTS = ("ckpt_name", "unet_name", "model_name", "base_ckpt_name", "vae_name")
_COMFY_TEXT_INPUTS = ("text", "text_g", "text_l", "prompt", "positive", "negative")


def parse_comfyui(
    prompt: str | None, workflow: str | None, source: str, problems: list[str]
) -> GeneratorMetadata | None:
    """ComfyUI's ``prompt`` (API graph: node id -> class_type, inputs) and/or ``workflow``."""
    graph = _json_object(prompt) if prompt else None
    ui = _json_object(workflow) if workflow else None
    if prompt and graph is None:
        problems.append(f"{source}: 'prompt' is not a JSON object")
    if workflow and ui is None:
        problems.append(f"{source}: 'workflow' is not a JSON object")
    nodes = {
        str(k): v
        for k, v in (graph or {}).items()
        if isinstance(v, dict) and isinstance(v.get("inputs"), dict)
    }
    if not nodes and not (ui and isinstance(ui.get("nodes"), list)):
        return None
    models: list[str] = []
    loras: list[str] = []
    seeds: list[int] = []
    positive: list[str] = []
    negative: list[str] = []
    texts: list[str] = []
    samplers: list[str] = []
    steps: int | None = None
    cfg: float | None = None
    for node in nodes.values():
        inputs = node["inputs"]
        for key in _COMFY_MODEL_INPUTS:
            if isinstance(inputs.get(key), str):
                models.append(inputs[key])
        if isinstance(inputs.get("lora_name"), str):
            loras.append(inputs["lora_name"])
        for key in ("seed", "noise_seed"):
            if (seed := _int(inputs.get(key))) is not None:
                seeds.append(seed)
        if isinstance(inputs.get("sampler_name"), str):
            samplers.append(inputs["sampler_name"])
        steps = steps if steps is not None else _int(inputs.get("steps"))
        cfg = cfg if cfg is not None else _float(inputs.get("cfg"))
        for role, out in (("positive", positive), ("negative", negative)):
            link = inputs.get(role)
            if isinstance(link, list) and link:
                out += _comfy_text(nodes, str(link[0]))
        if "CLIPTextEncode" in str(node.get("class_type", "")):
            texts += [v for k in _COMFY_TEXT_INPUTS if isinstance(v := inputs.get(k), str)]
    if not nodes and ui is not None:  # UI graph only: widget values, roles unknown
        for node in ui.get("nodes", []):
            if not isinstance(node, dict):
                continue
            kind = str(node.get("type", ""))
            values = node.get("widgets_values")
            values = values if isinstance(values, list) else []
            if "CLIPTextEncode" in kind:
                texts += [v for v in values if isinstance(v, str)]
            elif "Loader" in kind and values and isinstance(values[0], str):
                (loras if "Lora" in kind else models).append(values[0])
            elif "KSampler" in kind and values and (seed := _int(values[0])) is not None:
                seeds.append(seed)
    unassigned = [t for t in texts if t not in positive and t not in negative]
    return GeneratorMetadata(
        tool="comfyui",
        source=source,
        prompts=_texts(positive + (unassigned if not positive and not negative else [])),
        negative_prompts=_texts(negative),
        seeds=tuple(dict.fromkeys(seeds)),
        models=_texts(models),
        loras=_texts(loras),
        sampler=_opt(samplers[0]) if samplers else None,
        steps=steps,
        cfg_scale=cfg,
        settings=_settings(
            [("graph_nodes", str(len(nodes)))]
            + [("text_role_unknown", t) for t in unassigned if positive or negative]
        ),
    )


def _comfy_text(nodes: Mapping[str, Any], node_id: str, depth: int = 0) -> list[str]:
    """Texts that feed a conditioning input, following links through intermediate nodes."""
    node = nodes.get(node_id)
    if node is None or depth > 8:
        return []
    inputs = node["inputs"]
    found = [v for k in _COMFY_TEXT_INPUTS if isinstance(v := inputs.get(k), str)]
    if found:
        return found
    out: list[str] = []
    for value in inputs.values():  # e.g. ConditioningCombine, a text primitive feeding "text"
        if isinstance(value, list) and value and isinstance(value[0], str | int):
            out += _comfy_text(nodes, str(value[0]), depth + 1)
    return out


def parse_invokeai(
    metadata: str | None,
    sd_metadata: str | None,
    dream: str | None,
    source: str,
    problems: list[str],
) -> GeneratorMetadata | None:
    """InvokeAI 3.x+ ``invokeai_metadata``; 2.x ``sd-metadata`` JSON and ``Dream`` command."""
    if metadata:
        data = _json_object(metadata)
        if data is None:
            problems.append(f"{source}: invokeai_metadata is not a JSON object")
        else:
            model = data.get("model")
            names = (
                [model.get("model_name") or model.get("name")]
                if isinstance(model, dict)
                else [model]
            )
            hashes = [model.get("hash")] if isinstance(model, dict) else []
            loras = [
                (lora.get("model") or lora.get("lora") or {}).get("model_name")
                or (lora.get("model") or lora.get("lora") or {}).get("name")
                for lora in _as_list(data.get("loras"))
                if isinstance(lora, dict)
            ]
            used = {"positive_prompt", "negative_prompt", "seed", "model", "steps"}
            used |= {"cfg_scale", "scheduler", "width", "height", "app_version", "loras"}
            return GeneratorMetadata(
                tool="invokeai",
                source=f"{source}_metadata",
                prompts=_texts([data.get("positive_prompt")]),
                negative_prompts=_texts([data.get("negative_prompt")]),
                seeds=tuple(s for s in (_int(data.get("seed")),) if s is not None),
                models=_texts(names),
                model_hashes=_texts(hashes),
                loras=_texts(loras),
                sampler=_opt(data.get("scheduler")),
                steps=_int(data.get("steps")),
                cfg_scale=_float(data.get("cfg_scale")),
                size=_size(data.get("width"), data.get("height")),
                software=_opt(data.get("app_version")),
                settings=_settings((k, v) for k, v in data.items() if k not in used),
            )
    if sd_metadata:
        data = _json_object(sd_metadata)
        if data is None:
            problems.append(f"{source}: sd-metadata is not a JSON object")
        else:
            image: dict[str, Any] = data["image"] if isinstance(data.get("image"), dict) else {}
            prompt = image.get("prompt")
            prompts = (
                [p.get("prompt") for p in prompt if isinstance(p, dict)]
                if isinstance(prompt, list)
                else [prompt]
            )
            return GeneratorMetadata(
                tool="invokeai",
                source=f"{source}:sd-metadata",
                prompts=_texts(prompts),
                seeds=tuple(s for s in (_int(image.get("seed")),) if s is not None),
                models=_texts([data.get("model_weights")]),
                model_hashes=_texts([data.get("model_hash")]),
                sampler=_opt(image.get("sampler")),
                steps=_int(image.get("steps")),
                cfg_scale=_float(image.get("cfg_scale")),
                size=_size(image.get("width"), image.get("height")),
                software=_opt(data.get("app_version")),
            )
    if dream:
        quoted = re.match(r'\s*"((?:\\.|[^"\\])*)"', dream)
        seed = re.search(r"(?:^|\s)-S\s*(\d+)", dream)
        return GeneratorMetadata(
            tool="invokeai",
            source=f"{source}:Dream",
            prompts=_texts([quoted.group(1) if quoted else None]),
            seeds=(int(seed.group(1)),) if seed else (),
            settings=_settings([("Dream", dream)]),
        )
    return None


def parse_novelai(
    texts: Mapping[str, Any], source: str, problems: list[str]
) -> GeneratorMetadata | None:
    """NovelAI: ``Software`` = "NovelAI", ``Description`` = prompt, ``Source`` = model and hash,
    ``Comment`` = JSON of the request (prompt, uc, seed, steps, scale, sampler, v4_prompt...)."""
    comment = texts.get("Comment")
    data = comment if isinstance(comment, dict) else _json_object(comment) if comment else None
    software = str(texts.get("Software") or "")
    is_nai = software.strip().lower() == "novelai" or (
        data is not None and {"uc", "scale", "n_samples"} <= set(data)
    )
    if not is_nai:
        return None
    data = data or {}
    if comment and not data:
        problems.append(f"{source}: NovelAI Comment is not a JSON object")
    prompts = [data.get("prompt"), texts.get("Description")]
    negatives = [data.get("uc")]
    for key, out in (("v4_prompt", prompts), ("v4_negative_prompt", negatives)):
        caption = data.get(key, {}).get("caption", {}) if isinstance(data.get(key), dict) else {}
        if isinstance(caption, dict):
            out.append(caption.get("base_caption"))
            out += [
                c.get("char_caption")
                for c in _as_list(caption.get("char_captions"))
                if isinstance(c, dict)
            ]
    used = {"prompt", "uc", "seed", "steps", "scale", "sampler", "width", "height"}
    used |= {"v4_prompt", "v4_negative_prompt", "signed_hash"}
    return GeneratorMetadata(
        tool="novelai",
        source=source,
        prompts=_texts(prompts),
        negative_prompts=_texts(negatives),
        seeds=tuple(s for s in (_int(data.get("seed")),) if s is not None),
        models=_texts([texts.get("Source")]),
        sampler=_opt(data.get("sampler")),
        steps=_int(data.get("steps")),
        cfg_scale=_float(data.get("scale")),
        size=_size(data.get("width"), data.get("height")),
        software=_opt(software) if software else None,
        settings=_settings(
            [(k, v) for k, v in data.items() if k not in used]
            + [(k, texts[k]) for k in ("Title", "Generation time") if k in texts]
            + ([("signed_hash", data["signed_hash"])] if "signed_hash" in data else [])
        ),
    )


# --- stealth text in pixel LSBs --------------------------------------------------------------
def read_stealth(pixels: np.ndarray) -> StealthText | None:
    """Stealth text in an HxWx4 (alpha modes) or HxWx3 (RGB modes) uint8 array, or None."""
    image = np.asarray(pixels)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        return None
    height, width = image.shape[:2]
    modes = ["alpha", "rgb"] if image.shape[2] == 4 else ["rgb"]
    for mode in modes:
        per_pixel = 1 if mode == "alpha" else 3

        def bits(n_bits: int, mode: str = mode, per_pixel: int = per_pixel) -> np.ndarray:
            # column-major: only the first ceil(n / (H * bits per pixel)) columns are read
            columns = min(width, -(-n_bits // (height * per_pixel)))
            part = image[:, :columns, 3:4] if mode == "alpha" else image[:, :columns, :3]
            return part.transpose(1, 0, 2).reshape(-1)[:n_bits] & 1

        head = bits(_MAGIC_BITS + 32)
        if len(head) < _MAGIC_BITS + 32:
            continue
        magic = np.packbits(head[:_MAGIC_BITS]).tobytes().decode("latin-1")
        if STEALTH_MAGICS.get(magic, ("", False))[0] != mode:
            continue
        compressed = STEALTH_MAGICS[magic][1]
        n_bits = int.from_bytes(np.packbits(head[_MAGIC_BITS:]).tobytes(), "big")
        limit = MAX_CHUNK_TEXT * 8
        stream = bits(_MAGIC_BITS + 32 + min(n_bits, limit))[_MAGIC_BITS + 32 :]
        payload = np.packbits(stream[: len(stream) // 8 * 8]).tobytes()
        truncated = n_bits > len(stream)
        try:
            raw = _inflate(payload, gzip=True) if compressed else payload
        except zlib.error:
            return StealthText(magic, mode, compressed, "", truncated=True)
        return StealthText(
            magic, mode, compressed, raw.decode("utf-8", "replace"), truncated=truncated
        )
    return None


def stealth_generator(stealth: StealthText, problems: list[str]) -> GeneratorMetadata | None:
    """The generator record inside stealth text: NovelAI's JSON, or AUTOMATIC1111 infotext."""
    source = f"pixels:{stealth.magic}"
    data = _json_object(stealth.text)
    if data is not None:
        record = parse_novelai(data, source, problems)
        if record is None:
            problems.append(f"{source}: JSON in an unknown layout")
        return record
    record = parse_a1111(stealth.text, source)
    if record is None:
        problems.append(f"{source}: text in an unknown layout")
    return record


# --- small helpers ---------------------------------------------------------------------------
def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_STRING else text[: MAX_STRING - 1] + "…"


def _plain_text(value: str | None) -> bool:
    return bool(value) and not str(value).startswith(("prompt:", "workflow:"))


def _texts(values: Iterable[Any]) -> tuple[str, ...]:
    return _unique([v for v in values if isinstance(v, str)], limit=50)


def _unique(values: Iterable[str], limit: int) -> tuple[str, ...]:
    out = dict.fromkeys(_clip(v.strip()) for v in values if isinstance(v, str) and v.strip())
    return tuple(out)[:limit]


def _opt(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return _clip(text) if text else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,30}\s*", value):
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _size(width: Any, height: Any) -> str | None:
    w, h = _int(width), _int(height)
    return f"{w}x{h}" if w is not None and h is not None else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            unquoted = json.loads(value)
        except ValueError:
            return value
        return unquoted if isinstance(unquoted, str) else value
    return value


def _settings(pairs: Iterable[tuple[Any, Any]]) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in pairs:
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        out.append((_clip(str(key))[:200], _clip(text)))
        if len(out) >= MAX_SETTINGS:
            break
    return tuple(out)


def _replace_tool(record: GeneratorMetadata, tool: str) -> GeneratorMetadata:
    return replace(record, tool=tool)


__all__ = [
    "AI_SOURCE_TYPES",
    "GENERATOR_SOFTWARE",
    "STEALTH_MAGICS",
    "FileMetadata",
    "GeneratorMetadata",
    "StealthText",
    "parse_a1111",
    "parse_comfyui",
    "parse_fooocus",
    "parse_invokeai",
    "parse_novelai",
    "parse_parameters",
    "png_text_chunks",
    "read_metadata",
    "read_stealth",
    "stealth_generator",
    "xmp_digital_source_types",
]
