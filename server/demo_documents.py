"""The demo venue's signed documents: a root key, the simulation issuer's key, the trust list and the rule bundle.

The hub distributes what a real venue's supervisor would publish: a trust list that trusts the
simulation issuer and a bundle of the venue's policy pack, both signed by the demo's root key,
stored through the same call the documents API uses. The keys stay in the demo's work folder
(a temporary one unless --workdir), never in the repository.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from protocols.bundle import RiskArea, RiskAreas, build_bundle, sign_bundle
from protocols.keys import generate_private_key, save_private_key, save_public_key
from protocols.rules import load_pack
from protocols.trustlist import TrustedKey, TrustList
from server.store import HubStore

log = logging.getLogger(__name__)

PACK = "factory-gate"  # the demo venue is a factory entrance
# Must match agent.people (the simulated people's issuer, and the district the simulated travellers
# stayed in); the server may not import the agent, so the two names are repeated here.
SIM_ISSUER = "sim-health-authority"
SIM_RISK_REGION = "310115"


@dataclass(frozen=True)
class DemoKeys:
    """Where the demo's keys are: the root public key every gate checks against, and the issuer's private key."""

    root_public: Path
    issuer_private: Path


def publish_demo_documents(store: HubStore, venue: str, folder: Path) -> tuple[DemoKeys, dict[str, str]]:
    """Create the keys in `folder`, publish the signed trust list and bundle; the keys and the versions published."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # private keys: only the demo's user reads them
    root, issuer = generate_private_key("ES256"), generate_private_key("ES256")
    save_private_key(root, folder / "root.pem")
    keys = DemoKeys(save_public_key(root, folder / "root-pub.pem"), save_private_key(issuer, folder / "issuer.pem"))
    trust = TrustList([TrustedKey.from_public_key(issuer.public_key(), SIM_ISSUER)])
    areas = RiskAreas(regions=[RiskArea(region=SIM_RISK_REGION, level="high")])
    bundle = sign_bundle(build_bundle(load_pack(PACK), {}, areas), root)
    versions = {}
    for kind, doc in (("trustlist", trust.to_document(root)), ("bundle", bundle)):
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        versions[kind] = str(store.put_document(venue, kind, body, "application/json")["version"])
    log.info("published %s", versions)
    return keys, versions
