"""Model core: the yearly step (`RotationModel`), agents over numpy columns, the move log, careers,
cadres and tenure."""

from sim.core.mesa_import import import_mesa

import_mesa()  # before the modules below import Mesa: see sim.core.mesa_import
