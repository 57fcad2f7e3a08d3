"""The bootstrap program (`bootstrap/__main__.py`): the trust between GitHub Actions and an AWS account."""
