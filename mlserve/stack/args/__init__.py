"""Settings -> component Args: the pure translation `__main__.py` uses, one module per component.

Kept apart from `__main__.py` so it is tested without Pulumi and the program stays a screen
long. Physical names derive from the stack (`naming.py`) so dev and prod never collide in one account.
"""
