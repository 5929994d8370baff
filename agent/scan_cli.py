"""`checkpoint scan`: read the QR codes in image files, one JSON line per file; `codes inspect --image` reads one too."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from agent.decode import DecoderChain, decode_image_file
from agent.decode_stages import DEFAULT_STAGES, STAGES
from protocols.codes_cli import report_code, verify_options
from protocols.errors import CheckpointError

log = logging.getLogger(__name__)


def scan_file(path: Path, chain: DecoderChain) -> dict[str, object]:
    """The JSON-ready result for one image: its codes and decode time, or its error."""
    start = time.perf_counter()
    try:
        codes = decode_image_file(path, chain)
    except CheckpointError as exc:
        return {"file": str(path), "error": str(exc), "reason": exc.reason}
    return {"file": str(path), "codes": codes, "ms": round((time.perf_counter() - start) * 1000, 2)}


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--stages",
    default=",".join(DEFAULT_STAGES),
    show_default=True,
    help=f"Decoder stages in order, comma-separated, from: {', '.join(STAGES)}.",
)
def scan(images: tuple[Path, ...], stages: str) -> None:
    """Read QR codes from image files (PNG, JPEG, ...): one JSON line per file.

    Each line is {"file": ..., "codes": [...], "ms": ...}, or {"file": ..., "error": ...,
    "reason": ...} for a file that cannot be read; the exit code is then 1.

    Example: checkpoint scan code.png photo.jpg
    """
    names = [name.strip() for name in stages.split(",") if name.strip()]
    try:
        chain = DecoderChain(names)
    except (ValueError, CheckpointError) as exc:
        raise click.UsageError(str(exc)) from exc
    failed = 0
    for path in images:
        result = scan_file(path, chain)
        failed += "error" in result
        click.echo(json.dumps(result, ensure_ascii=False))
    if failed:
        log.info("%d of %d files could not be read", failed, len(images))
        click.get_current_context().exit(1)


@click.command()
@click.argument("code", required=False)
@click.option("--image", "image_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the code from an image.")
@verify_options
def inspect(code: str | None, image_path: Path | None, **options) -> None:
    """Verify one code, given or read from an image, and print a JSON report; exit 0 verified, 1 refused, 2 usage error.

    Example: checkpoint codes inspect --image pass.png --trust keys/trust-list.json --max-age 10
    """
    if (code is None) == (image_path is None):
        raise click.UsageError("give either CODE or --image FILE")
    if image_path is not None:
        try:
            texts = decode_image_file(image_path)
        except (CheckpointError, OSError, ValueError) as exc:
            raise click.UsageError(f"--image {image_path}: {exc}") from exc
        if len(texts) > 1:
            log.warning("%s holds %d codes; inspecting the first", image_path, len(texts))
        code = texts[0] if texts else None
    report_code(code, **options)
