"""Each OAuth provider's facts live on its connector: the runtime knows no vendor, and destinations/ branches on
no type name."""

import ast
from pathlib import Path

import pytest

import connectors
import destinations
from connectors.runtime.oauth import OAuthProvider
from connectors.runtime.registry import connector_classes, connector_types, oauth_types, provider_for

RUNTIME = Path(connectors.__file__).parent / "runtime"


def test_the_oauth_types_are_those_whose_connector_declares_a_provider():
    declared = {name for name, cls in connector_classes().items() if isinstance(cls.oauth, OAuthProvider)}
    assert set(oauth_types()) == declared == {"google_ads", "hubspot", "linkedin_ads", "salesforce"}
    assert provider_for("webhook") is None and provider_for("no-such-type") is None


@pytest.mark.parametrize("destination_type", oauth_types())
def test_each_provider_names_https_endpoints_and_the_scopes_it_needs(destination_type):
    provider = provider_for(destination_type)
    authorize_url, token_url = provider.endpoints(base_url=None)
    assert authorize_url.startswith("https://") and token_url.startswith("https://")
    assert not provider.missing_scopes(list(provider.default_scopes))
    assert all(origin.startswith("https://") for origin in provider.form_origins(None))


def test_hubspot_trades_codes_at_the_date_versioned_token_endpoint():
    """/oauth/v1/token retires on 2027-02-16 (developers.hubspot.com/changelog/v1-oauth-api-deprecation)."""
    assert provider_for("hubspot").endpoints(base_url=None)[1] == "https://api.hubapi.com/oauth/2026-03/token"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update("." * node.level + alias.name for alias in node.names if node.module is None)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", sorted(RUNTIME.glob("*.py")), ids=lambda p: p.name)
def test_no_runtime_module_imports_an_adapter(module):
    adapters = {f"connectors.{name}" for name in connector_types()} | {f"..{name}" for name in connector_types()}
    adapters |= {f"..{path.stem}" for path in RUNTIME.parent.glob("_*.py")}
    assert not _imports(module) & adapters, f"{module.name} imports an adapter: vendor facts belong to the adapter"


def test_destinations_compares_nothing_with_a_type_name():
    """No `if type == "salesforce"`: a type's behaviour comes from its connector."""
    types = set(connector_types())
    found = []
    for path in Path(destinations.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for operand in operands:
                    values = operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
                    hits = [v.value for v in values if isinstance(v, ast.Constant) and v.value in types]
                    found.extend(f"{path.name}:{node.lineno} {hit}" for hit in hits)
    assert found == []
