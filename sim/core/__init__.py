"""Model core: the yearly step (`RotationModel`), agents over numpy columns, the move log, careers,
cadres and tenure."""
