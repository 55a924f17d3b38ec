"""The report stage: paper tables with the reproduced figures beside the paper's, the estimated
training cost per paper, training plots, provenance and the index page that ties them together.
Reproduced figures always carry their scale, dataset and boxes, so a smoke-scale number can never
be read as a COCO figure."""
