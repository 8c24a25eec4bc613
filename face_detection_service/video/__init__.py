"""Video segment jobs: decode one stretch of a video from the shared media store, then detect faces on some
of its frames or hide given faces in all of them and write the stretch as an MP4 segment.

decoding.py reads frames (seeking, rotation, corrupt packets), planes.py works on the pixels with no I/O,
encoding.py writes the segment atomically, jobs.py ties them into the two job kinds, media.py runs them on the
store's objects (FACE_MEDIA_URL).
"""
