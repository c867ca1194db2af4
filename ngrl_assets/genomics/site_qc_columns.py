"""Descriptions of the site-QC columns stored in ``variant_sites`` (the data dictionary
and the Dagster table schema read them)."""

from ngrl_assets.genomics.schemas import NO_CALL_REASONS
from ngrl_assets.genomics.site_qc import DP_BINS, GQ_BINS, NOCALL_COUNTS

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "n_samples": "aggregate: samples counted at the site (XX samples excluded on chrY)",
    "n_called": "aggregate: samples with at least one allele called",
    "n_complete": "aggregate: samples with every allele called",
    **{
        name: f"aggregate: samples not called (wholly or one allele) for reason {r} "
        f"({NO_CALL_REASONS[r].split(':')[0]})"
        for name, r in NOCALL_COUNTS.items()
    },
    "n_an": "aggregate: allele number",
    "n_ac": "aggregate: alternate allele count",
    "n_ac_het": "aggregate: alternate alleles in het genotypes",
    "n_ac_hom": "aggregate: alternate alleles in hom-alt genotypes",
    "n_ac_hemi": "aggregate: alternate alleles in hemizygous calls",
    "hwe_hom_ref": "aggregate: HWE-eligible genotypes without this ALT",
    "hwe_het": "aggregate: HWE-eligible het genotypes",
    "hwe_hom_alt": "aggregate: HWE-eligible hom-alt genotypes",
    "ab_hets": "aggregate: ref/alt hets with allelic depths",
    "ab_hets_balanced": "aggregate: of those, passing the allele-balance binomial test",
    "dp_hist_all": f"aggregate: DP histogram over all samples ({DP_BINS} bins, last = cap)",
    "dp_hist_complete": f"aggregate: DP histogram over complete genotypes ({DP_BINS} bins)",
    "gq_hist": f"aggregate: GQ histogram over complete genotypes ({GQ_BINS} bins)",
    "AN": "allele number (called alleles)",
    "AC": "alternate allele count",
    "AC_Het": "alternate alleles in het genotypes",
    "AC_Hom": "alternate alleles in hom-alt genotypes (2 per genotype)",
    "AC_Hemi": "alternate alleles in hemizygous calls (XY outside the PARs)",
    "AF": "alternate allele frequency AC/AN",
    "missingness": "share of samples not called",
    "medianDepthAll": "median DP over all samples",
    "medianDepthNonMiss": "median DP over complete genotypes",
    "medianGQ": "median GQ over complete genotypes (capped at 99)",
    "ABratio": "share of ref/alt hets passing the allele-balance test",
    "completeGTRatio": "share of samples with a complete genotype",
    "phwe": "Hardy-Weinberg mid-p (all samples; XX only on chrX outside the PARs)",
    "FILTER": "PASS or the failing aggV2 filters joined by ';'",
}
