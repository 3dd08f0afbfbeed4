"""Rendered rows kept between frames, as a mixin of `GhostEditor` (a TextArea).

TextArea keeps its rendered rows in a cache whose key holds the selection (for every row when
soft wrap is on) and the ghost, and empties that cache on every edit (it rebuilds its highlight
map), so each frame after a key rendered every visible row again: most of a frame's time on a
screen full of text (bench/editor_latency.py on a 200 x 60 terminal: key -> ghost p50 11.3 ms,
8.2-8.7 ms with rows kept). Here a row that neither the cursor, the selection nor a matched
bracket is on is kept under everything it shows: its line's text, index and wrapped section, the
line's wrap offsets, tab widths and syntax highlights, and what holds for the whole frame (theme,
style, sizes, scroll, wrapping, line numbers, the find pattern). So is a row of the cursor's own
line that ends before the cursor (a long paragraph, typed at its end, wraps over many rows, each
of which TextArea drew from the whole line on every frame), under its line's text up to its end,
its wrap offsets up to there, the cursor line's style and the matched bracket. Any other row is
TextArea's. tests/test_editor_app.py checks every row against TextArea's own rendering through
edits, selections, find highlights, line numbers, scrolling, a theme change and typing at the end
of a wrapped paragraph with brackets and tabs.
"""

from __future__ import annotations

from textual.cache import LRUCache

KEPT_ROWS = 2048  # rows kept (a few screens' worth; each a Strip of one row)


class KeptRows:
    """`render_line` from kept rows where the cursor cannot have changed them."""

    _kept: LRUCache | None = None
    _frame_key: tuple = ()  # what every row of this frame depends on (set by render_lines)

    def render_lines(self, crop):
        self._frame_key = (self.theme, self.rich_style, self.size, self.scroll_offset.x, self.soft_wrap,
                           self.indent_width, self.show_line_numbers, self.line_number_start, self.gutter_width,
                           self.virtual_size.width, self.scrollable_content_region.size.width,
                           getattr(self, "find_pattern", None))
        return super().render_lines(crop)

    def render_line(self, y: int):
        wrapped = self.wrapped_document
        rows = wrapped._offset_to_line_info  # (line index, wrapped section) per row, as TextArea reads it
        row = y + self.scroll_offset.y
        if row >= len(rows):
            return super().render_line(y)
        index, section = rows[row]
        start, end = self.selection
        bracket = self._matching_bracket_location
        highlights = self._highlights.get(index)
        if min(start[0], end[0]) <= index <= max(start[0], end[0]) or (bracket is not None and bracket[0] == index):
            offsets = wrapped.get_offsets(index)
            if (start != end or end[0] != index or section >= len(offsets) or offsets[section] >= end[1]
                    or getattr(self, "find_pattern", None) is not None):
                return super().render_line(y)  # the cursor's row and after, a selection's, a matched bracket's elsewhere
            # a row of the cursor's line that ends before the cursor: drawn from the line's text up to its end
            # (the ghost and the cursor come later), in the cursor line's style, with the matched bracket
            key = (self._frame_key, "cursor line", self.highlight_cursor_line, self._has_cursor, bracket, self.match_cursor_bracket,
                   self.document[index][: offsets[section]], index, section, tuple(offsets[: section + 1]),
                   tuple(wrapped.get_tab_widths(index)), tuple(highlights) if highlights else ())
        else:
            key = (self._frame_key, self.document[index], index, section, tuple(wrapped.get_offsets(index)),
                   tuple(wrapped.get_tab_widths(index)), tuple(highlights) if highlights else ())
        if self._kept is None:
            self._kept = LRUCache(KEPT_ROWS)
        strip = self._kept.get(key)
        if strip is None:
            strip = self._kept[key] = super().render_line(y)
        return strip

    def notify_style_update(self) -> None:
        if self._kept is not None:
            self._kept.clear()  # the theme's or the CSS's styles changed
        super().notify_style_update()
