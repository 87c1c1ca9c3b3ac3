"""The one table of the names a roster may use besides the model's own: Chinese column headers,
sheet names and category values as district offices write them (docs/roster.md shows it,
rendered by `markdown()`; a test checks that the two agree).

Values map to the model's categories (sim.codes). Where a Chinese level has no exact match the
nearest is taken and the comment says why; the doc repeats it.
"""

from __future__ import annotations

# table -> model column -> other headers accepted for it
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "schools": {
        "school_id": ("学校编号", "学校代码", "学校标识码"),
        "name": ("学校名称", "校名"),
        "district": ("区县", "所属区县", "区"),
        "level": ("学段", "学校类型", "办学类型"),
        "tier": ("办学水平", "学校层级"),
        "enrolment": ("在校生数", "学生数"),
        "x_km": ("横坐标", "横坐标(千米)"),
        "y_km": ("纵坐标", "纵坐标(千米)"),
        "district_type": ("区域类型",),
        "school_district": ("学区",),
        "group": ("教育集团", "集团"),
        "leading": ("龙头校", "是否龙头校"),
        "junior_enrolment": ("初中部学生数", "初中在校生数"),
    },
    "teachers": {
        "teacher_id": ("教师编号", "工号", "教职工号"),
        "school_id": ("学校编号", "学校代码", "学校标识码"),
        "age": ("年龄",),
        "role": ("岗位", "职务"),
        "level": ("任教学段", "学段"),
        "subject": ("任教学科", "学科"),
        "title": ("职称", "专业技术职务"),
        "qualification": ("学历达标",),
        "backbone": ("骨干级别", "骨干"),
        "experience": ("教龄",),
        "years_at_school": ("本校任职年限", "本校工作年限"),
        "quality": ("质量",),
        "home_x_km": ("住址横坐标",),
        "home_y_km": ("住址纵坐标",),
        "gender": ("性别",),
        "birth_month": ("出生月份",),
        "past_rotations": ("交流轮岗次数", "已交流次数"),
        "years_since_rotation": ("距上次交流年数",),
    },
    "twinning": {
        "school_a": ("学校甲", "学校A"),
        "school_b": ("学校乙", "学校B"),
    },
}

# table -> names a worksheet may have, used when a workbook holds more than one sheet
SHEETS: dict[str, tuple[str, ...]] = {
    "schools": ("schools", "学校", "学校名单"),
    "teachers": ("teachers", "教师", "教师名单", "教职工"),
    "twinning": ("twinning", "结对", "结对学校"),
}

# model column -> value as written -> the model's value (the same in every table)
VALUES: dict[str, dict[str, str]] = {
    "level": {
        "小学": "primary",
        "初中": "junior",
        "初级中学": "junior",
        "九年一贯制": "nine_year",
        "九年一贯制学校": "nine_year",
    },
    "tier": {
        "龙头校": "leading",
        "名校": "leading",
        "优质校": "strong",
        "普通校": "ordinary",
        "一般校": "ordinary",
        "薄弱校": "weak",
        "农村校": "rural",
        "乡村校": "rural",
    },
    "district_type": {
        "城区": "urban_core",
        "核心区": "urban_core",
        "近郊区": "inner_suburb",
        "远郊区": "outer_suburb",
        "农村": "rural",
    },
    "leading": {"是": "1", "否": "0"},
    "role": {
        "教师": "teacher",
        "专任教师": "teacher",
        "校长": "principal",
        "副校长": "vice_principal",
        "中层干部": "middle_manager",
        "中层": "middle_manager",
    },
    "subject": {
        "语文": "chinese",
        "数学": "maths",
        "英语": "english",
        "科学": "science",
        "物理": "science",
        "化学": "science",
        "生物": "science",
        "体育": "pe",
        "体育与健康": "pe",
        "音乐": "music",
        "美术": "art",
        "其他": "other",
        "道德与法治": "other",
        "历史": "other",
        "地理": "other",
        "信息技术": "other",
    },
    # Titles since the 2015 reform (正高级, 高级, 一级, 二级, 三级), and the older names mapped as the
    # reform mapped them: 小学高级 became 一级, 小学一级 became 二级. The model has no level below
    # `second` but `unranked`, so 三级 (and the old titles that became it) is read as unranked.
    "title": {
        "正高级": "professor",
        "正高级教师": "professor",
        "高级": "senior",
        "高级教师": "senior",
        "中学高级教师": "senior",
        "一级": "first",
        "一级教师": "first",
        "中学一级教师": "first",
        "小学高级教师": "first",
        "二级": "second",
        "二级教师": "second",
        "中学二级教师": "second",
        "小学一级教师": "second",
        "三级": "unranked",
        "三级教师": "unranked",
        "中学三级教师": "unranked",
        "小学二级教师": "unranked",
        "小学三级教师": "unranked",
        "未定级": "unranked",
        "无": "unranked",
    },
    "qualification": {"低于要求": "below", "达标": "required", "高于要求": "above"},
    # Backbone levels: `district` is the county level (区/县), `municipal` anything above it; the 2017
    # standard counts district and municipal ("county-level-or-above"). 特级教师 is a provincial
    # honour, above the county, so municipal; 学科带头人 ranks above 骨干 of its level and below the
    # next level's, so it takes its level's code.
    "backbone": {
        "无": "none",
        "非骨干": "none",
        "校级骨干": "school",
        "校级骨干教师": "school",
        "区级骨干": "district",
        "区级骨干教师": "district",
        "区级学科带头人": "district",
        "县级骨干": "district",
        "县级学科带头人": "district",
        "市级骨干": "municipal",
        "市级骨干教师": "municipal",
        "市级学科带头人": "municipal",
        "省级骨干": "municipal",
        "特级教师": "municipal",
    },
    "gender": {"女": "woman", "男": "man"},
}

BEGIN = "<!-- aliases: generated from sim/world/aliases.py by sim.world.aliases.markdown() -->"
END = "<!-- aliases: end -->"


def header_names(table: str) -> dict[str, str]:
    """Every accepted header of `table` (the model's name, and each alias) -> the model's name."""
    names = {col: col for col in COLUMNS[table]}
    for col, others in COLUMNS[table].items():
        names.update((other, col) for other in others)
    return names


def markdown() -> str:
    """The tables as docs/roster.md shows them, between the BEGIN and END markers."""
    lines = [BEGIN, "", "| file | column | also accepted as |", "|---|---|---|"]
    for table, cols in COLUMNS.items():
        lines += [f"| {table} | `{col}` | {', '.join(others)} |" for col, others in cols.items()]
    lines += ["", "| worksheet of | names |", "|---|---|"]
    lines += [f"| {table} | {', '.join(names)} |" for table, names in SHEETS.items()]
    lines += ["", "| column | value as written | read as |", "|---|---|---|"]
    for col, values in VALUES.items():
        lines += [f"| `{col}` | {written} | `{value}` |" for written, value in values.items()]
    return "\n".join([*lines, "", END])
