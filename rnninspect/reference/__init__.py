"""The manual reference: torch's recurrent layers written out from their equations.

It takes parameters by torch's names and in torch's layout (gate order i, f, g, o for LSTM and
r, z, n for GRU), so a module's ``named_parameters()`` feed it unchanged. It never calls
``nn.RNN*``, ``nn.LSTM*``, ``nn.GRU*``, ``torch._VF`` or the functional RNN helpers.
"""

from rnninspect.reference.recurrence import reference_forward

__all__ = ["reference_forward"]
