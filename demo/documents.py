"""The demo venue's signed documents: a root key, the simulation issuer's key, the trust list and the rule bundle.

The hub distributes what a real venue's supervisor would publish: a trust list that trusts the
simulation issuer and a bundle of the venue's policy pack, both signed by the demo's root key,
published through the hub's documents API. The keys stay in the demo's work folder (a temporary
one unless --workdir), never in the repository.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.people import RISK_REGION, SIM_ISSUER
from protocols.bundle import RiskArea, RiskAreas, build_bundle, sign_bundle
from protocols.contract import DocumentKind
from protocols.keys import generate_private_key, save_private_key, save_public_key
from protocols.rules import load_pack
from protocols.trustlist import TrustedKey, TrustList

PACK = "factory-gate"  # the demo venue is a factory entrance


@dataclass(frozen=True)
class DemoKeys:
    """Where the demo's keys are: the root public key every gate checks against, and the issuer's private key."""

    root_public: Path
    issuer_private: Path


def schedule_key(folder: Path) -> tuple[Path, Path]:
    """The hub's schedule key (it signs the venue's schedule and daily controls) and its public half for the gates."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key = generate_private_key("ES256")
    return save_private_key(key, folder / "schedule-key.pem"), save_public_key(key, folder / "schedule-pub.pem")


def demo_documents(folder: Path, trusted: Sequence[TrustedKey] = ()) -> tuple[DemoKeys, dict[DocumentKind, bytes]]:
    """Create the keys in `folder`; the keys, and the signed trust list (the simulation issuer and `trusted`, e.g.
    the hub's issuer key for the venue) and bundle to publish (JSON bodies)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # private keys: only the demo's user reads them
    root, issuer = generate_private_key("ES256"), generate_private_key("ES256")
    save_private_key(root, folder / "root.pem")
    keys = DemoKeys(save_public_key(root, folder / "root-pub.pem"), save_private_key(issuer, folder / "issuer.pem"))
    # The simulated people's issuer, and the district the simulated travellers stayed in, as the gates simulate them.
    trust = TrustList([TrustedKey.from_public_key(issuer.public_key(), SIM_ISSUER), *trusted])
    areas = RiskAreas(regions=[RiskArea(region=RISK_REGION, level="high")])
    bundle = sign_bundle(build_bundle(load_pack(PACK), {}, areas), root)
    documents = {DocumentKind.TRUSTLIST: trust.to_document(root), DocumentKind.BUNDLE: bundle}
    return keys, {kind: json.dumps(doc, ensure_ascii=False).encode("utf-8") for kind, doc in documents.items()}
