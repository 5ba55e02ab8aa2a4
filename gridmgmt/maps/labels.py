"""The one zh/en label registry: every text a person reads on a gridmgmt page, in Chinese and English.

Shared labels are listed here; domain modules add theirs with :func:`register_labels`, usually
under a prefix naming the page (``"overview."``, ``"sheet."``), and read them with :func:`label`
or, for a whole page, :func:`labels_of`.
"""

from __future__ import annotations

from collections.abc import Mapping

from gridmgmt.config import LANGS  # the one list of label languages (district.toml's [district] lang)

LABELS: dict[str, dict[str, str]] = {
    "retailers": {"zh": "零售户", "en": "Retailers"},
    "retailer": {"zh": "零售户", "en": "Retailer"},
    "retailer_id": {"zh": "许可证号", "en": "Licence no."},
    "name": {"zh": "名称", "en": "Name"},
    "address": {"zh": "地址", "en": "Address"},
    "business_type": {"zh": "业态", "en": "Business type"},
    "customer_class": {"zh": "客户档位", "en": "Customer class"},
    "subdistrict": {"zh": "街道", "en": "Subdistrict"},
    "grid": {"zh": "网格", "en": "Grid"},
    "grids": {"zh": "网格", "en": "Grids"},
    "grid_id": {"zh": "网格编号", "en": "Grid no."},
    "risk": {"zh": "风险", "en": "Risk"},
    "risk_score": {"zh": "风险分", "en": "Risk score"},
    "risk_level": {"zh": "风险等级", "en": "Risk level"},
    "hotspots": {"zh": "热点", "en": "Hotspots"},
    "heat": {"zh": "热力图", "en": "Heat map"},
    "route": {"zh": "路线", "en": "Route"},
    "routes": {"zh": "巡查路线", "en": "Patrol routes"},
    "depot": {"zh": "驻点", "en": "Depot"},
    "schools": {"zh": "学校", "en": "Schools"},
    "boundary": {"zh": "辖区边界", "en": "District boundary"},
    "legend": {"zh": "图例", "en": "Legend"},
    "basemap": {"zh": "底图", "en": "Base map"},
    "open_time": {"zh": "营业时间", "en": "Opening hours"},
    "workload_min": {"zh": "工作量（分钟）", "en": "Workload (min)"},
    "count": {"zh": "数量", "en": "Count"},
    "high": {"zh": "高", "en": "High"},
    "medium": {"zh": "中", "en": "Medium"},
    "low": {"zh": "低", "en": "Low"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "exit_fullscreen": {"zh": "退出全屏", "en": "Exit full screen"},
}


def label(key: str, lang: str = "zh") -> str:
    """The label of ``key`` in ``lang`` (``"zh"`` or ``"en"``), unescaped.

    Raises
    ------
    KeyError
        For an unknown key (add it with :func:`register_labels`) or language.
    """
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    try:
        return LABELS[key][lang]
    except KeyError:
        raise KeyError(f"no {lang!r} label for {key!r}; add it with gridmgmt.maps.register_labels") from None


def register_labels(labels: Mapping[str, Mapping[str, str]], *, prefix: str = "") -> None:
    """Add labels ``{"key": {"zh": "...", "en": "..."}}`` (both languages required) as ``prefix + key``.

    Registering a key again with the same texts is allowed (modules may be reloaded).

    Raises
    ------
    ValueError
        When a label lacks a language, or when the key is already registered with other texts
        (give the new label its own key, or a ``prefix``).
    """
    for key, texts in labels.items():
        missing = [lang for lang in LANGS if not texts.get(lang)]
        if missing:
            raise ValueError(f"label {key!r} lacks {', '.join(missing)}")
        entry = {lang: str(texts[lang]) for lang in LANGS}
        full_key = prefix + key
        if LABELS.get(full_key, entry) != entry:
            raise ValueError(
                f"label {full_key!r} is already registered as {LABELS[full_key]}; give {entry} another key or a prefix"
            )
        LABELS[full_key] = entry


def labels_of(prefix: str, lang: str = "zh") -> dict[str, str]:
    """Every label whose key starts with ``prefix``, in ``lang``, keyed without the prefix (unescaped).

    Raises
    ------
    KeyError
        For an unknown language.
    """
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return {key[len(prefix) :]: texts[lang] for key, texts in LABELS.items() if key.startswith(prefix)}
