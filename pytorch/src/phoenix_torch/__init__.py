"""Phoenix pod contract for PyTorch: exact DCP checkpoints, strict resume, reporting, SIGTERM handling."""

from .checkpoint import CheckpointError
from .env import ContractError, PhoenixEnv
from .session import Phoenix, PhoenixExit
from .state import TrainState

__all__ = ["CheckpointError", "ContractError", "Phoenix", "PhoenixEnv", "PhoenixExit", "TrainState"]
__version__ = "0.1.0"
