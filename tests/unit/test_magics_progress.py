"""%submit's packaging progress: what a user sees while a big source folder is packaged."""

import io

from runconfig_jupyter.magics import PackagingProgress


def test_packaging_progress_is_silent_for_small_folders_and_counts_up_for_big_ones():
    small = io.StringIO()
    PackagingProgress(small)(10, 1000)
    assert small.getvalue() == ""
    out = io.StringIO()
    progress = PackagingProgress(out)
    total = 200 << 20
    for done in range(0, total + 1, total // 40):
        progress(done, total)
    text = out.getvalue()
    assert "  0% of 200 MB" in text and "100% of 200 MB\n" in text
    assert text.count("\r") == 21  # one update per 5 %, none repeated
