"""Teaching: the workshop sessions' exercise checks and the participant copies of the workshop notebooks.

The workshops live in ``notebooks/workshops/`` with their solutions (hidden in collapsed cells);
:func:`~pmo_workbench.teaching.participant.write_participant_copies` writes the copies participants get, without
the solution cells. Each exercise ends with a check cell, :func:`~pmo_workbench.teaching.checks.check`, which
compares the participant's answer with what the library (or the synthetic project's ``truth/``) says, and
explains what is wrong without giving the answer away.
"""
