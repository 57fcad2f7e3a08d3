import pytest

from components.amis import AmiType, ami_type_for, instance_family


@pytest.mark.parametrize(
    "instance_types, expected",
    [
        (["g4dn.xlarge"], AmiType.X86_64_NVIDIA),
        (["g5.2xlarge", "g6.2xlarge", "g6e.xlarge"], AmiType.X86_64_NVIDIA),
        (["p4d.24xlarge"], AmiType.X86_64_NVIDIA),
        (["p5.48xlarge"], AmiType.X86_64_NVIDIA),
        (["g5g.xlarge"], AmiType.ARM_64_NVIDIA),
        (["m7g.large", "c7g.large"], AmiType.ARM_64),
        (["m7i.large", "m6i.large", "m7i-flex.large"], AmiType.X86_64),
    ],
)
def test_ami_type_follows_the_instance_family(instance_types, expected):
    assert ami_type_for(instance_types) is expected


def test_gpu_ami_types_are_the_nvidia_ones():
    assert {t for t in AmiType if t.is_gpu} == {AmiType.X86_64_NVIDIA, AmiType.ARM_64_NVIDIA}


def test_unknown_family_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"unknown instance family 'x9z' \(from 'x9z.large'\)"):
        ami_type_for(["m7i.large", "x9z.large"])


def test_families_needing_different_amis_cannot_share_a_pool():
    with pytest.raises(ValueError, match="g5.xlarge needs AL2023_x86_64_NVIDIA"):
        ami_type_for(["m7i.large", "g5.xlarge"])


@pytest.mark.parametrize("bad", ["large", "m7i.", ".large", ""])
def test_malformed_instance_type(bad):
    with pytest.raises(ValueError):
        instance_family(bad)


def test_a_pool_needs_instance_types():
    with pytest.raises(ValueError, match="at least one instance type"):
        ami_type_for([])
