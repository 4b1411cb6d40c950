"""The stages of one region's detection, in the order data flows through them: the cheap change
test (:mod:`.trigger`), the setting the data supports with its radar fallback (:mod:`.setting`),
the ensemble's probability turned into landslide polygons (:mod:`.vectorise`), and the score
against a source's ground truth where it has one (:mod:`.evaluation`). Each stage is a pure
function of the feature stack; :mod:`monitor.run` chains them."""
