"""The course's exercise checks, one module per lesson (``l00_start`` ... ``l09_workshop``) and
their shared helpers (``_shared``); :mod:`mpesa_lab.course.check` gathers them for the notebooks."""
