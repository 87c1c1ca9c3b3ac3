"""The warning a run issues for a problem it goes on from, in a module of its own so that a sweep's
client can name it without importing the model (and Mesa)."""


class RunWarning(UserWarning):
    """A problem a run meets and goes on from (a quota larger than a district's pool)."""
