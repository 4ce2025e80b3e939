"""An independent JSON-schema description of what the hub promises in an export's
``vics.json`` (Project VIC VICS 2.0 OData), shared by the export and API tests."""

from __future__ import annotations

# An independent description of what the hub promises in vics.json (VICS 2.0 OData).
VICS_SCHEMA = {
    "type": "object",
    "required": ["@odata.context", "value"],
    "properties": {
        "@odata.context": {"const": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases"},
        "value": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": [
                    "CaseID", "CaseNumber", "TotalMediaFiles", "TotalPrecategorized",
                    "SourceApplicationName", "Media",
                ],
                "properties": {
                    "CaseID": {"type": "string", "format": "uuid"},
                    "CaseNumber": {"type": "string"},
                    "TotalMediaFiles": {"type": "integer", "minimum": 0},
                    "TotalPrecategorized": {"type": "integer", "minimum": 0},
                    "SourceApplicationName": {"const": "Triage Hub"},
                    "Media": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": [
                                "MediaID", "MD5", "SHA1", "IsPrecategorized",
                                "RelativeFilePath", "MediaSize", "AlternativeHashes",
                            ],
                            "additionalProperties": False,
                            "properties": {
                                "MediaID": {"type": "integer", "minimum": 1},
                                "MD5": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                                "SHA1": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                                "Category": {"type": "integer", "enum": [0, 1, 2, 3, 4]},
                                "IsPrecategorized": {"type": "boolean"},
                                "PrecategorizationSource": {"type": "string"},
                                "RelativeFilePath": {"type": "string", "minLength": 1},
                                "MediaSize": {"type": "integer", "minimum": 0},
                                "Comments": {"type": "string"},
                                "AlternativeHashes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["HashName", "HashValue"],
                                        "properties": {
                                            "HashName": {"enum": ["PDQ", "SHA256"]},
                                            "HashValue": {
                                                "type": "string",
                                                "pattern": "^[0-9a-f]{64}$",
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}  # fmt: skip
