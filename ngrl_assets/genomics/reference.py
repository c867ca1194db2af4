"""The reference genome the library is called against (GRCh38), in one place. Pure.

Contig lengths are those of the GRCh38 primary assembly (GRC / UCSC ``hg38.chrom.sizes``)
for the contigs the platform stores, in karyotypic order; the gVCF reader checks every
``##contig`` header line and record against them, the chunk plan (``chunks_grch38.tsv``)
tiles exactly them, the exported VCF declares them and the synthetic cohort writes them.
The pseudoautosomal regions (1-based, inclusive) decide ploidy on chrX/chrY in site QC.
"""

from __future__ import annotations

from typing import Final

# a plain dict (picklable, passes anywhere a Mapping goes); nothing may modify it
GRCH38_CONTIGS: Final[dict[str, int]] = {
    "chr1": 248_956_422,
    "chr2": 242_193_529,
    "chr3": 198_295_559,
    "chr4": 190_214_555,
    "chr5": 181_538_259,
    "chr6": 170_805_979,
    "chr7": 159_345_973,
    "chr8": 145_138_636,
    "chr9": 138_394_717,
    "chr10": 133_797_422,
    "chr11": 135_086_622,
    "chr12": 133_275_309,
    "chr13": 114_364_328,
    "chr14": 107_043_718,
    "chr15": 101_991_189,
    "chr16": 90_338_345,
    "chr17": 83_257_441,
    "chr18": 80_373_285,
    "chr19": 58_617_616,
    "chr20": 64_444_167,
    "chr21": 46_709_983,
    "chr22": 50_818_468,
    "chrX": 156_040_895,
    "chrY": 57_227_415,
    "chrM": 16_569,
}

# GRCh38 pseudoautosomal regions (Ensembl/GRC), 1-based inclusive.
PARS: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "chrX": ((10_001, 2_781_479), (155_701_383, 156_030_895)),
    "chrY": ((10_001, 2_781_479), (56_887_903, 57_217_415)),
}
