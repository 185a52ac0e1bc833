"""One module per command, each holding that command's report: plain dataclasses whose
``to_dict()`` is the JSON of the contract, and which every view (table, JSON, markdown, JUnit) is
made from. Reports import no torch and no engine: the engines build them, ``render`` shows them.
"""
