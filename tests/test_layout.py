"""The layout's one rule of direction: the offline toolchain (mlserve/offline) may import the policy
pack; the pack never imports mlserve/, so `pulumi preview --policy-pack policies` loads only the pack,
the components it reads and pulumi_policy. And mlserve/ holds packages, not prefixed modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_policy_pack_never_imports_mlserve():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "mlserve")
                 for path in (ROOT / "policies").rglob("*.py")}
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_components_never_import_mlserve():
    """Components take resolved values (the house style); the settings and the toolchain import them, not the reverse."""
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "mlserve")
                 for path in (ROOT / "components").rglob("*.py")}
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_mlserve_is_packages_not_prefixed_modules():
    modules = sorted(p.name for p in (ROOT / "mlserve").glob("*.py") if p.name != "__init__.py")
    assert modules == [], f"put {modules} in the package of their concern (stack/, offline/, models/, checks/)"
    packages = sorted(p.name for p in (ROOT / "mlserve").iterdir() if (p / "__init__.py").exists())
    assert packages == ["checks", "models", "offline", "stack"]
