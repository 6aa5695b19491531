"""REST endpoints (DRF views): /analyze-mood and /batch-analyze-mood (thin: parse, call a service, answer)."""
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import limits, serializers, services
from .conf import engagement_settings
from .exceptions import api_exception_handler

# The error answers every analysis endpoint may give, all with the same JSON body.
ERRORS = {status: serializers.ErrorResponse for status in (400, 413, 415, 429, 503)}


class EngagementApiView(APIView):
    """The app's own rules, whatever the project's REST_FRAMEWORK defaults: logged-in users, the one error shape."""

    permission_classes = [IsAuthenticated]

    def get_exception_handler(self):
        """Every error as {"success": false, "error", "message"}."""
        return api_exception_handler


class AnalyzeMoodApi(EngagementApiView):
    """Analyse one frame: JSON {image, timestamp?, detector_backend?, session_id?} or a multipart upload."""

    parser_classes = [JSONParser, MultiPartParser]
    throttle_scope = "analyze"

    @extend_schema(
        request={"application/json": serializers.AnalyzeMoodRequest, "multipart/form-data": serializers.AnalyzeMoodUpload},
        responses={200: serializers.AnalysisResult, **ERRORS},
    )
    def post(self, request):
        """Answer the prototype's JSON for the frame."""
        serializers.body_size_check(request=request, limit=engagement_settings["MAX_REQUEST_BYTES"])
        frame = serializers.frame_from_request(request=request)
        data = request.data
        [result] = services.api_frames_analyze(
            frames=[frame],
            detector_backend=data.get("detector_backend"),
            session_id=serializers.session_id_parse(data.get("session_id")),
            user=request.user,
            fail_alone=False,
        )
        return Response(result)


class BatchAnalyzeMoodApi(EngagementApiView):
    """Analyse up to BATCH_MAX_FRAMES frames: {frames: [{image, timestamp}], detector_backend?, session_id?}."""

    parser_classes = [JSONParser]
    throttle_scope = "batch"

    @extend_schema(request=serializers.BatchRequest,
                   responses={200: serializers.BatchResult, **ERRORS})
    def post(self, request):
        """Answer a summary and one result per frame, in order."""
        serializers.body_size_check(request=request, limit=engagement_settings["MAX_BATCH_REQUEST_BYTES"])
        frames = serializers.frames_from_request(request=request)
        data = request.data
        session_id = serializers.session_id_parse(data.get("session_id"))
        with limits.batch_slot(user=request.user):
            results = services.api_frames_analyze(frames=frames, detector_backend=data.get("detector_backend"),
                                                  session_id=session_id, user=request.user)
        summary = services.batch_summarize(results=results)
        return Response({"success": summary["analyzed_frames"] > 0, "summary": summary, "results": results})


class VerifyFacesApi(EngagementApiView):
    """Whether two images show the same person: JSON {img1, img2, detector_backend?} (DeepFace.verify's answer)."""

    parser_classes = [JSONParser]
    throttle_scope = "analyze"

    @extend_schema(request=serializers.VerifyFacesRequest,
                   responses={200: serializers.VerifyFacesResult, 501: serializers.ErrorResponse, **ERRORS})
    def post(self, request):
        """Compare the largest face of each image."""
        serializers.body_size_check(request=request, limit=2 * engagement_settings["MAX_REQUEST_BYTES"])
        data = serializers.json_object(request.data)
        result = services.api_faces_verify(images={name: data.get(name) for name in services.VERIFY_IMAGES},
                                           detector_backend=data.get("detector_backend"), user=request.user)
        return Response(result)
